from flows.env import apply_prefect_defaults


def test_defaults_fill_only_what_the_user_left_unset() -> None:
    environ = {"PREFECT_HOME": "/mine", "PREFECT_API_URL": "http://server:4200/api"}
    apply_prefect_defaults(environ)
    assert environ["PREFECT_HOME"] == "/mine"
    assert environ["PREFECT_API_URL"] == "http://server:4200/api"
    assert environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"


def test_no_api_url_is_set_so_runs_are_ephemeral() -> None:
    environ: dict[str, str] = {}
    apply_prefect_defaults(environ)
    assert "PREFECT_API_URL" not in environ
    assert environ["PREFECT_HOME"].endswith("desa/prefect")
