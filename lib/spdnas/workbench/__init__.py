"""The reproducible-paper layer: papermill runs of the stage notebooks (:mod:`.pipeline`) and the
tables, metrics and data manifest they write (:mod:`.report`)."""
