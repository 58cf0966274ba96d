"""Stage 1, where frames come from: cameras, streams, files, folders, the demo photos; the motion gate; VOC scene folders."""
