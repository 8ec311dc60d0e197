from typing import ClassVar

from django.conf import settings
from whitenoise.middleware import WhiteNoiseMiddleware
from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    """Fingerprinted, compressed static files; `import "./x.js"` inside ES modules is rewritten to the
    fingerprinted name too, so the panel's modules never mix versions across a deploy."""

    support_js_module_import_aggregation = True


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, listing STATIC_ROOT once per process and configuration.

    Without autorefresh (any server: DEBUG is off) WhiteNoise walks STATIC_ROOT and stats each file every time the
    middleware is built: about 50 ms for the 300 files collectstatic writes. A server builds its middleware once, but
    Django's test Client builds the whole chain once per client, so the test suite walked the folder thousands of
    times. The listing is kept per process, keyed by the folder and every setting that shapes an answer; like WhiteNoise
    in a server, a file collected after the first listing is served after a restart."""

    _listings: ClassVar[dict[tuple, dict]] = {}

    def update_files_dictionary(self, root, prefix):
        key = (
            root,
            prefix,
            self.static_prefix,
            self.max_age,
            self.allow_all_origins,
            self.charset,
            self.index_file,
            self.add_headers_function,
            # The setting itself (a function, or an expression WhiteNoise wraps in a new function each time), and DEBUG,
            # in which a manifest storage's url() leaves names unhashed: the default test then finds no immutable file.
            getattr(settings, "WHITENOISE_IMMUTABLE_FILE_TEST", None),
            settings.DEBUG,
            # The setting WhiteNoise adds to its default media types (not the merged table, sorted per build).
            repr(getattr(settings, "WHITENOISE_MIMETYPES", None)),
            repr(settings.STORAGES.get("staticfiles")),  # which names are fingerprinted (immutable, cached forever)
        )
        listing = self._listings.get(key)
        if listing is None:
            # super() lists into self.files: give it an empty one, keep what it wrote, put this build's back.
            own, self.files = self.files, {}
            try:
                super().update_files_dictionary(root, prefix)
                listing = self._listings[key] = self.files
            finally:
                self.files = own
        self.files.update(listing)
