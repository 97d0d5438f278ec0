"""The corpus side of the cloud: documents in, chunks and vectors out, nearest chunks on demand."""

from cloud.datastore.datastore import Datastore, IngestReport, RetrievedChunk

__all__ = ["Datastore", "IngestReport", "RetrievedChunk"]
