# Rules of the 'render' stage.
