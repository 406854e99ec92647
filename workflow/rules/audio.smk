# Rules of the 'audio' stage.
