from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    """Fingerprinted, compressed static files; `import "./x.js"` inside ES modules is rewritten to the
    fingerprinted name too, so the panel's modules never mix versions across a deploy."""

    support_js_module_import_aggregation = True
