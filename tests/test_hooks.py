"""The hooks: validation unit-tested without baking, then proven through real bakes."""

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from cookiecutter.environment import StrictEnvironment

from baking import declared_dependencies, run_generated_tests
from service_harness.projects import TEMPLATE_DIR

HOOKS_DIR = TEMPLATE_DIR / "hooks"
VALID_ANSWERS = {
    "project_name": "My Service",
    "project_slug": "my_service",
    "service_port": 8000,
    "otlp_protocol": "grpc",
    "otlp_endpoint": "http://localhost:4317",
    "span_processor": "batch",
    "include_downstream_client": False,
    "downstream_url": "http://localhost:8001",
    "downstream_service": "service_b",
}
# (option, bad answer, a phrase of the one-line message)
INVALID_ANSWERS = [
    ("project_name", "   ", "non-empty"),
    ("project_slug", "My-Service", "lowercase Python identifier"),
    ("project_slug", "9lives", "lowercase Python identifier"),
    ("project_slug", "class", "keyword"),
    ("project_slug", "logging", "shadow"),
    ("project_slug", "fastapi", "shadow"),
    ("project_slug", "idna", "shadow"),
    ("project_slug", "../escape", "lowercase Python identifier"),
    ("service_port", "0", "1 to 65535"),
    ("service_port", "65536", "1 to 65535"),
    ("service_port", "eighty", "1 to 65535"),
    ("otlp_protocol", "http/json", "one of grpc, http/protobuf"),
    ("otlp_endpoint", "localhost:4317", "http:// or https://"),
    ("otlp_endpoint", "ftp://collector:4317", "http:// or https://"),
    ("otlp_endpoint", "http://", "http:// or https://"),
    ("otlp_endpoint", "http://collector:99999", "http:// or https://"),
    ("otlp_endpoint", "http://collector:4318/v1/traces", "base URL"),
    ("otlp_endpoint", 'http://collector:4317/"', "http:// or https://"),
    ("span_processor", "eager", "one of batch, simple"),
    ("downstream_url", "not a url", "http:// or https://"),
    ("downstream_url", "http://user:pw@host:8001", "credentials"),
    ("downstream_service", "Service B", "lowercase identifier"),
]


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_hook(name: str):
    return load_module(HOOKS_DIR / f"{name}.py")


def invalid_case_id(case) -> str:
    option, value, _ = case
    return f"{option}:{value!r}"


@pytest.fixture(scope="module")
def pre_gen():
    return load_hook("pre_gen_project")


@pytest.fixture(scope="module")
def post_gen():
    return load_hook("post_gen_project")


def test_valid_answers_have_no_problems(pre_gen):
    assert pre_gen.find_problems(VALID_ANSWERS) == []


@pytest.mark.parametrize("case", INVALID_ANSWERS, ids=invalid_case_id)
def test_each_invalid_answer_gives_one_line_naming_the_option(pre_gen, case):
    option, value, phrase = case

    problems = pre_gen.find_problems({**VALID_ANSWERS, option: value})

    assert len(problems) == 1
    assert problems[0].startswith(f"{option}: ")
    assert phrase in problems[0]
    assert "\n" not in problems[0]


def test_client_calling_its_own_route_is_refused(pre_gen):
    answers = {
        **VALID_ANSWERS,
        "include_downstream_client": True,
        "downstream_service": "my_service",
    }

    (problem,) = pre_gen.find_problems(answers)

    assert problem.startswith("downstream_service: ")


def test_post_gen_removes_client_files_only_without_the_client(post_gen):
    assert post_gen.excluded_paths("svc", include_downstream_client=True) == []
    assert post_gen.excluded_paths("svc", include_downstream_client=False) == [
        "src/svc/downstream_client.py",
        "tests/test_downstream_client.py",
    ]


def test_post_gen_removal_is_safe_to_repeat(post_gen, tmp_path):
    (tmp_path / "src" / "svc").mkdir(parents=True)
    (tmp_path / "src" / "svc" / "downstream_client.py").write_text("x = 1\n")
    paths = post_gen.excluded_paths("svc", include_downstream_client=False)

    post_gen.remove_paths(tmp_path, paths)
    post_gen.remove_paths(tmp_path, paths)

    assert not (tmp_path / "src" / "svc" / "downstream_client.py").exists()
    assert (tmp_path / "src" / "svc").is_dir()


def test_post_gen_prints_next_steps_without_running_them(post_gen, tmp_path):
    text = post_gen.next_steps(tmp_path / "svc", "svc", 8123)

    assert "  uv sync --locked\n  uv run pytest\n" in text
    assert "uv run uvicorn --factory svc.app:create_app --port 8123" in text


# Cookiecutter itself refuses a choice answer outside the list, before any hook.
BAKED_INVALID_ANSWERS = [
    case
    for case in INVALID_ANSWERS
    if case[0] not in ("otlp_protocol", "span_processor")
]


@pytest.mark.parametrize("case", BAKED_INVALID_ANSWERS, ids=invalid_case_id)
def test_bake_with_an_invalid_answer_fails_and_leaves_no_directory(
    cookies, capfd, tmp_path, case
):
    option, value, phrase = case

    result = cookies.bake(extra_context={option: value})

    assert result.exit_code != 0
    assert type(result.exception).__name__ == "FailedHookException"
    stderr = capfd.readouterr().err
    assert f"ERROR: {option}: " in stderr and phrase in stderr
    # pytest-cookies bakes into <tmp_path>/cookies/bake00.
    assert [p.name for p in (tmp_path / "cookies").rglob("*")] == ["bake00"]


def render_hook(name: str, answers: dict) -> str:
    """Render a hook exactly as cookiecutter does, with its own Jinja environment."""
    context = {"cookiecutter": answers}
    environment = StrictEnvironment(context=context, keep_trailing_newline=True)
    source = (HOOKS_DIR / f"{name}.py").read_text()
    return environment.from_string(source).render(**context)


HOSTILE_TEXT = [
    "''' + __import__('pathlib').Path('MARKER').write_text('pwned') + '''",
    '""" + __import__("pathlib").Path("MARKER").write_text("pwned") + """',
    "\\'; open('MARKER', 'w')  # \\\\ trailing backslash \\",
]


@pytest.mark.parametrize("hook", ["pre_gen_project", "post_gen_project"])
@pytest.mark.parametrize("text", HOSTILE_TEXT, ids=["single", "double", "backslash"])
def test_answers_enter_the_hooks_as_data_never_as_code(tmp_path, hook, text):
    answers = {**VALID_ANSWERS, "project_name": text, "project_slug": text}
    script = tmp_path / f"rendered_{hook}.py"
    script.write_text(render_hook(hook, answers))

    rendered = load_module(script)

    assert rendered.rendered_answers()["project_slug"] == text
    assert not (tmp_path / "MARKER").exists()
    assert not Path("MARKER").exists()


AWKWARD_NAMES = {
    "project_name": 'Zoë\'s "Quoted" \\ {Braced} Service 🚀',
    "description": (
        'Line one\nline two with "quotes", \\backslashes\\, {braces} and ünïcode 🚀'
    ),
    "project_slug": "zoes_quoted_service",
}


def test_awkward_name_and_description_make_a_valid_project(cookies):
    result = cookies.bake(extra_context=AWKWARD_NAMES)

    assert result.exit_code == 0, result.exception
    project_dir = result.project_path
    with (project_dir / "pyproject.toml").open("rb") as file:
        project = tomllib.load(file)["project"]
    assert project["description"] == " ".join(AWKWARD_NAMES["description"].split())
    assert "fastapi" in declared_dependencies(project_dir)
    assert AWKWARD_NAMES["project_name"] in (project_dir / "README.md").read_text()
    # project_name and description land in README.md and pyproject.toml only:
    # pytest reading that pyproject and the app serving is the check (the code
    # variants' whole suites run in test_generation).
    tests = run_generated_tests(project_dir, "tests/test_server_spans.py")
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert " passed" in tests.stdout


TEMPLATE_INJECTIONS = {
    "project_name": "{{ 7*7 }} {% raw %} ''' + __import__('os').system('touch MARKER')",
    "project_slug": "typed_in_service",
    "description": "{{ cycler.__init__.__globals__.os.system('touch MARKER') }}\"",
}


def test_typed_answers_are_never_rendered_or_executed(tmp_path):
    """A person's answers at the prompts stay plain data in every file."""
    answers = [
        TEMPLATE_INJECTIONS["project_name"],
        TEMPLATE_INJECTIONS["project_slug"],
        TEMPLATE_INJECTIONS["description"],
    ]
    # The rest of the prompts take their defaults.
    stdin = "\n".join(answers) + "\n" * 10

    result = subprocess.run(
        [sys.executable, "-m", "cookiecutter", str(TEMPLATE_DIR)],
        input=stdin,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    project_dir = tmp_path / "typed_in_service"
    readme = (project_dir / "README.md").read_text()
    assert TEMPLATE_INJECTIONS["project_name"] in readme
    assert TEMPLATE_INJECTIONS["description"] in readme
    with (project_dir / "pyproject.toml").open("rb") as file:
        description = tomllib.load(file)["project"]["description"]
    assert description == TEMPLATE_INJECTIONS["description"]
    assert not list(tmp_path.rglob("MARKER"))


NAMES_PEOPLE_TYPE = {
    "Café Ünïcode": "cafe_unicode",
    "2FA Service": "service_2fa_service",
    "Orders API v2.0": "orders_api_v2_0",
    "User's Service": "users_service",
    "Payments  Service": "payments_service",
    "Email": "email_service",
}


@pytest.mark.parametrize("name", NAMES_PEOPLE_TYPE)
def test_the_default_slug_of_any_name_is_one_the_hook_accepts(cookies, pre_gen, name):
    result = cookies.bake(extra_context={"project_name": name})

    assert result.exit_code == 0, result.exception
    slug = result.project_path.name
    assert slug == NAMES_PEOPLE_TYPE[name]
    assert pre_gen.check_slug(slug) is None
    assert "__" not in slug
    assert (result.project_path / "src" / slug / "app.py").is_file()
