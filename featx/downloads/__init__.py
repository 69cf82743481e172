"""Public data to disk: manifests, verified and resumable downloads, the GDC's file API.

::

    manifest (GDC portal or featx TSV) --(fetch)--> files checked by size, md5, sha256
    GDC /files query --(gdc)--> a featx manifest for fetch

:func:`fetch` downloads what a manifest names (``featx fetch``); :func:`project_manifest`
asks the GDC for a project's open files (``featx gdc``). The manifests shipped with featx
(:func:`bundled_manifest`) live in ``data_manifests/`` of a checkout and in the wheel.
"""

from featx.downloads.fetch import download, fetch
from featx.downloads.gdc import project_manifest
from featx.downloads.manifests import bundled_manifest, find_manifest, read_manifest

__all__ = ["bundled_manifest", "download", "fetch", "find_manifest", "project_manifest",
           "read_manifest"]
