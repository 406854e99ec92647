# Rules of the 'fit' stage.
