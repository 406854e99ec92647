# Rules of the 'face' stage.
