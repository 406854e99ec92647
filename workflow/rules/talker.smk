# Rules of the 'talker' stage.
