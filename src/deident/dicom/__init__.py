"""DICOM de-identification to PS3.15 Annex E: the profile table (data + generator), its engine, the Document.

Nothing here imports pydicom at module level: the format registry names ``deident.dicom.document:open_dicom``.
"""
