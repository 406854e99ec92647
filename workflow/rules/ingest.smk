# Rules of the 'ingest' stage.
