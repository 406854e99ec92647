# Rules of the 'canonical' stage.
