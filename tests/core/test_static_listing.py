"""core.storage.StaticFilesMiddleware: WhiteNoise's listing of STATIC_ROOT taken once per process and configuration."""

from django.test import RequestFactory
from whitenoise.middleware import WhiteNoiseMiddleware

from core.storage import StaticFilesMiddleware


def _answer(middleware, path):
    response = middleware(RequestFactory().get(path))
    return response.status_code, {k: v for k, v in response.headers.items() if k != "Last-Modified"}


def _not_found(request):
    from django.http import HttpResponseNotFound

    return HttpResponseNotFound()


def test_answers_as_whitenoise_does_and_lists_the_folder_once_per_configuration(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    (tmp_path / "first.js").write_text("export const first = 1;\n")
    first = StaticFilesMiddleware(_not_found)
    assert _answer(first, "/static/first.js") == _answer(WhiteNoiseMiddleware(_not_found), "/static/first.js")
    assert _answer(first, "/static/first.js")[0] == 200

    # A file collected later is not listed again by a middleware built with the same configuration (as WhiteNoise in
    # a running server: it is served after a restart)...
    (tmp_path / "second.js").write_text("export const second = 2;\n")
    again = StaticFilesMiddleware(_not_found)
    assert _answer(again, "/static/first.js")[0] == 200
    assert _answer(again, "/static/second.js")[0] == 404
    assert _answer(WhiteNoiseMiddleware(_not_found), "/static/second.js")[0] == 200

    # ...while another configuration lists the folder as it is now, with that configuration's headers.
    settings.WHITENOISE_MAX_AGE = 7
    other = StaticFilesMiddleware(_not_found)
    status, headers = _answer(other, "/static/second.js")
    assert (status, headers["Cache-Control"]) == (200, "max-age=7, public")
    assert _answer(other, "/static/first.js")[1]["Cache-Control"] == "max-age=7, public"


def test_a_regular_expression_for_immutable_files_keys_one_listing_per_expression(settings, tmp_path):
    # WhiteNoise turns WHITENOISE_IMMUTABLE_FILE_TEST's expression into a function of its own for each middleware: the
    # key must be the expression, or each middleware built (each test Client) would list the folder and keep it.
    settings.STATIC_ROOT = tmp_path
    (tmp_path / "app.0123456789ab.js").write_text("export const app = 1;\n")
    settings.WHITENOISE_IMMUTABLE_FILE_TEST = r"\.[0-9a-f]{12}\."
    kept = len(StaticFilesMiddleware._listings)
    first, again = StaticFilesMiddleware(_not_found), StaticFilesMiddleware(_not_found)
    assert len(StaticFilesMiddleware._listings) == kept + 1
    assert "immutable" in _answer(again, "/static/app.0123456789ab.js")[1]["Cache-Control"]
    settings.WHITENOISE_IMMUTABLE_FILE_TEST = r"\.never\."
    other = StaticFilesMiddleware(_not_found)
    assert _answer(other, "/static/app.0123456789ab.js")[1]["Cache-Control"] == "max-age=60, public"
    assert _answer(first, "/static/app.0123456789ab.js") == _answer(again, "/static/app.0123456789ab.js")


def test_debug_keys_a_listing_of_its_own_as_a_manifest_s_urls_change_with_it(settings, tmp_path):
    # In DEBUG a manifest storage's url() gives the unhashed name, so WhiteNoise's test finds no fingerprinted file.
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "core.storage.StaticStorage"}}
    settings.WHITENOISE_AUTOREFRESH, settings.WHITENOISE_MAX_AGE = False, 60
    (tmp_path / "app.0123456789ab.js").write_text("export const app = 1;\n")
    (tmp_path / "staticfiles.json").write_text('{"paths": {"app.js": "app.0123456789ab.js"}, "version": "1.1"}')
    url = "/static/app.0123456789ab.js"
    assert "immutable" in _answer(StaticFilesMiddleware(_not_found), url)[1]["Cache-Control"]
    settings.DEBUG = True
    expected = _answer(WhiteNoiseMiddleware(_not_found), url)
    assert expected[1]["Cache-Control"] == "max-age=60, public"
    assert _answer(StaticFilesMiddleware(_not_found), url) == expected
