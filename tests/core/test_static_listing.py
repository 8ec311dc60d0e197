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
