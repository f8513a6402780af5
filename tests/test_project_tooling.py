"""What a team expects next to the code: CI, pre-commit, a Makefile, .env.example.

The generated project's workflow and pre-commit config load as YAML and pin
what they run; every variable the service's Settings reads is documented in
both `.env.example` and the README's table, with the default the code uses.
The template's own workflow is checked the same way.
"""

import json
import re
import sys
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement

from baking import run
from service_harness.projects import TEMPLATE_DIR

SHA_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@v\d+\.\d+\.\d+$")
VERSION_COMMENT = re.compile(r"#\s*v\d+\.\d+\.\d+")
CLIENT_ONLY_PREFIX = "SERVICE_DOWNSTREAM_"
TEMPLATE_WORKFLOW = TEMPLATE_DIR / ".github" / "workflows" / "template-ci.yml"


@pytest.fixture(scope="module", params=[False, True], ids=["client:no", "client:yes"])
def baked(request, cookies_session):
    result = cookies_session.bake(
        extra_context={"include_downstream_client": request.param}
    )
    assert result.exit_code == 0, result.exception
    return request.param, result.project_path


def load_workflow(path) -> dict:
    workflow = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def steps_using_actions(workflow: dict) -> list[str]:
    return [
        step["uses"]
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if "uses" in step
    ]


def assert_actions_pinned(path) -> None:
    """Every action pinned to a commit SHA (with its tag as a comment) or a release."""
    uses = steps_using_actions(load_workflow(path))
    assert uses, f"{path.name} uses no action"
    for action in uses:
        assert SHA_PINNED.match(action) or VERSION_PINNED.match(action), action
    for line in path.read_text().splitlines():
        if "uses:" in line and re.search(r"@[0-9a-f]{40}", line):
            assert VERSION_COMMENT.search(line), f"no version comment: {line.strip()}"


def image_python(project_dir) -> str:
    dockerfile = (project_dir / "Dockerfile").read_text()
    (minor,) = re.findall(r"^ARG PYTHON_IMAGE=python:(3\.\d+)\.", dockerfile, re.M)
    return minor


def supported_pythons(project_dir) -> list[str]:
    """From requires-python's lower bound up to the Python the image runs."""
    with (project_dir / "pyproject.toml").open("rb") as file:
        requires = tomllib.load(file)["project"]["requires-python"]
    (lowest,) = re.findall(r">=3\.(\d+)", requires)
    newest = image_python(project_dir).split(".")[1]
    return [f"3.{minor}" for minor in range(int(lowest), int(newest) + 1)]


def generated_workflow(project_dir) -> dict:
    return load_workflow(project_dir / ".github" / "workflows" / "ci.yml")


def job_runs(job: dict) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_generated_workflow_tests_the_lock_on_every_supported_python(baked):
    _, project_dir = baked
    workflow = generated_workflow(project_dir)
    test = workflow["jobs"]["test"]
    matrix = test["strategy"]["matrix"]

    assert {"push", "pull_request", "schedule"} <= set(workflow["on"])
    assert matrix["python-version"] == supported_pythons(project_dir)
    assert matrix["python-version"][0] == "3.11"
    assert matrix["python-version"][-1] == "3.14"
    assert test["env"]["UV_PYTHON"] == "${{ matrix.python-version }}"
    assert job_runs(test) == ["uv sync --locked", "uv run pytest"]


def test_python_3_15_is_tested_in_a_job_allowed_to_fail(baked):
    _, project_dir = baked
    test = generated_workflow(project_dir)["jobs"]["test"]

    assert test["strategy"]["matrix"]["include"] == [
        {"python-version": "3.15", "experimental": True}
    ]
    assert test["continue-on-error"] == "${{ matrix.experimental == true }}"


def test_generated_workflow_lints_and_type_checks_on_the_image_python(baked):
    _, project_dir = baked
    lint = generated_workflow(project_dir)["jobs"]["lint"]

    assert lint["env"]["UV_PYTHON"] == image_python(project_dir)
    assert job_runs(lint) == [
        "uv sync --locked",
        "uv run ruff check .",
        "uv run ruff format --check .",
        "uv run mypy",
    ]


def test_one_job_tests_the_newest_releases_the_ranges_admit_without_failing_ci(
    baked,
):
    _, project_dir = baked
    newest = generated_workflow(project_dir)["jobs"]["newest-releases"]

    assert newest["env"]["UV_PYTHON"] == image_python(project_dir)
    assert job_runs(newest) == [
        "uv lock --upgrade",
        "uv sync --locked",
        "uv run pytest",
    ]
    assert newest["continue-on-error"] is True


def test_uv_runs_on_the_python_that_setup_python_installs_in_every_job(baked):
    _, project_dir = baked
    jobs = generated_workflow(project_dir)["jobs"]
    checked = 0
    for job in jobs.values():
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/setup-python@"):
                named = step["with"]["python-version"]
                assert named in (job["env"]["UV_PYTHON"], "${{ env.UV_PYTHON }}")
                checked += 1

    assert checked == 3


def test_generated_workflow_runs_the_uv_release_the_image_installs(baked):
    _, project_dir = baked
    dockerfile = (project_dir / "Dockerfile").read_text()
    (image_uv,) = re.findall(r"\buv==(\S+)$", dockerfile, re.M)
    setups = [
        step["with"]
        for job in generated_workflow(project_dir)["jobs"].values()
        for step in job["steps"]
        if step.get("uses", "").startswith("astral-sh/setup-uv@")
    ]

    assert len(setups) == 3
    assert all(setup == {"version": image_uv, "enable-cache": True} for setup in setups)


def test_the_images_uv_is_inside_the_range_the_template_writes_its_locks_with(baked):
    """The lock is written (make lock) and checked (test_lock.py) with the test
    extra's uv; the image and CI must read it with a release of that range."""
    _, project_dir = baked
    dockerfile = (project_dir / "Dockerfile").read_text()
    (image_uv,) = re.findall(r"\buv==(\S+)$", dockerfile, re.M)
    pyproject = tomllib.loads((TEMPLATE_DIR / "pyproject.toml").read_text())
    (uv,) = [
        Requirement(requirement)
        for requirement in pyproject["project"]["optional-dependencies"]["test"]
        if Requirement(requirement).name == "uv"
    ]

    assert uv.specifier.contains(image_uv), (image_uv, str(uv.specifier))


def assert_jobs_are_bounded_and_keep_no_credentials(path) -> None:
    workflow = load_workflow(path)
    for name, job in workflow["jobs"].items():
        assert job["timeout-minutes"] <= 30, name
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, name


def test_generated_and_template_workflows_bound_jobs_and_drop_credentials(baked):
    _, project_dir = baked

    assert_jobs_are_bounded_and_keep_no_credentials(
        project_dir / ".github" / "workflows" / "ci.yml"
    )
    assert_jobs_are_bounded_and_keep_no_credentials(TEMPLATE_WORKFLOW)


def test_generated_workflow_builds_the_image(baked):
    _, project_dir = baked
    workflow = generated_workflow(project_dir)

    assert job_runs(workflow["jobs"]["image"]) == [
        "docker build --pull --tag ci-image ."
    ]


def test_generated_workflow_pins_every_action(baked):
    _, project_dir = baked

    assert_actions_pinned(project_dir / ".github" / "workflows" / "ci.yml")


def test_each_action_is_pinned_to_one_commit_in_both_workflows(baked):
    _, project_dir = baked
    uses = steps_using_actions(generated_workflow(project_dir))
    uses += steps_using_actions(load_workflow(TEMPLATE_WORKFLOW))
    commits: dict[str, set[str]] = {}
    for action in uses:
        name, commit = action.split("@")
        commits.setdefault(name, set()).add(commit)

    assert set(commits) == {
        "actions/checkout",
        "actions/setup-python",
        "astral-sh/setup-uv",
    }
    assert all(len(pinned) == 1 for pinned in commits.values()), commits


def test_generated_workflow_keeps_its_own_expressions(baked):
    _, project_dir = baked
    text = (project_dir / ".github" / "workflows" / "ci.yml").read_text()

    assert "python-version: ${{ matrix.python-version }}" in text


def test_pre_commit_runs_ruff_at_the_locked_release_as_make_lint_does(baked):
    """One place for ruff's version, uv.lock: a hook pinned to a release of its
    own would drift from what `make lint` and CI run after `uv lock --upgrade`."""
    _, project_dir = baked
    config = yaml.safe_load((project_dir / ".pre-commit-config.yaml").read_text())

    (repo,) = config["repos"]
    ruff = [hook for hook in repo["hooks"] if hook["id"].startswith("ruff")]
    assert repo["repo"] == "local"
    assert [(hook["entry"], hook["types"]) for hook in ruff] == [
        ("uv run --locked ruff check --fix", ["python"]),
        ("uv run --locked ruff format", ["python"]),
    ]


def test_pre_commit_runs_mypy_on_the_whole_service_in_its_locked_environment(baked):
    _, project_dir = baked
    config = yaml.safe_load((project_dir / ".pre-commit-config.yaml").read_text())

    (repo,) = config["repos"]
    (hook,) = [hook for hook in repo["hooks"] if hook["id"] == "mypy"]
    assert (hook["entry"], hook["pass_filenames"]) == ("uv run --locked mypy", False)
    # Run when what decides its answer changes: the code or the dependencies.
    triggers = ["src/my_service/app.py", "pyproject.toml", "uv.lock"]
    ignored = ["tests/test_app.py", "README.md", "src/my_service/py.typed"]
    assert [bool(re.search(hook["files"], path)) for path in triggers + ignored] == (
        [True] * len(triggers) + [False] * len(ignored)
    )


def test_makefile_has_the_everyday_targets(baked):
    _, project_dir = baked
    text = (project_dir / "Makefile").read_text()
    recipes = makefile_recipes(text)

    assert recipes["install"] == ["uv sync"]
    assert recipes["run"] == [f"uv run python -m {project_dir.name}"]
    assert recipes["test"] == ["uv run pytest"]
    assert recipes["lint"] == [
        "uv run ruff check .",
        "uv run ruff format --check .",
        "uv run mypy",
    ]
    assert recipes["format"] == ["uv run ruff check --fix .", "uv run ruff format ."]
    assert recipes["up"] == ["docker compose up --build"]
    recipe_lines = [line for line in text.splitlines() if line.startswith(" ")]
    assert recipe_lines == [], "recipes must start with a tab"


def makefile_recipes(text: str) -> dict[str, list[str]]:
    """{target: its recipe lines}, for the rules written `target:`."""
    recipes: dict[str, list[str]] = {}
    target = None
    for line in text.splitlines():
        rule = re.match(r"^([\w-]+):", line)
        if rule:
            target = rule[1]
            recipes[target] = []
        elif line.startswith("\t") and target:
            recipes[target].append(line[1:])
    return recipes


def settings_in_force(project_dir) -> dict[str, object]:
    """{variable: the value the baked service uses when it is unset}, asked of its
    own Settings class in a clean environment."""
    script = (
        "import json\n"
        f"from {project_dir.name}.settings import Settings\n"
        "settings = Settings()\n"
        "values = {}\n"
        "for name, field in Settings.model_fields.items():\n"
        "    alias = field.validation_alias\n"
        "    values[alias] = getattr(settings, name)\n"
        "print(json.dumps(values))\n"
    )
    result = run([sys.executable, "-c", script], project_dir / "src")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def as_documented(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def readme_table(project_dir) -> dict[str, str]:
    """{variable: its default column}, from the README's variables table."""
    rows = [
        line.split("|")
        for line in (project_dir / "README.md").read_text().splitlines()
        if line.startswith("| `")
    ]
    return {
        name: row[2].strip().strip("`")
        for row in rows
        for name in re.findall(r"`((?:SERVICE|OTEL)_[A-Z0-9_]+)`", row[1])
    }


def readme_table_variables(project_dir) -> set[str]:
    return set(readme_table(project_dir))


def env_example(project_dir) -> dict[str, str]:
    text = (project_dir / ".env.example").read_text()
    pattern = r"^#?\s*((?:SERVICE|OTEL)_[A-Z0-9_]+)=(.*)$"
    return dict(re.findall(pattern, text, re.MULTILINE))


def env_example_variables(project_dir) -> set[str]:
    return set(env_example(project_dir))


def test_every_variable_settings_reads_is_in_env_example_and_the_readme(baked):
    _, project_dir = baked
    read = set(settings_in_force(project_dir))

    assert {"SERVICE_PORT", "OTEL_TRACES_SAMPLER"} <= read
    assert read - env_example_variables(project_dir) == set()
    assert read - readme_table_variables(project_dir) == set()


def test_readme_and_env_example_state_the_defaults_the_code_uses(baked):
    _, project_dir = baked
    table, example = readme_table(project_dir), env_example(project_dir)

    defaults = {
        name: as_documented(value)
        for name, value in settings_in_force(project_dir).items()
        if value is not None
    }

    assert defaults["SERVICE_SHUTDOWN_TIMEOUT"] == "3"
    assert {name: table[name] for name in defaults} == defaults
    assert {name: example[name] for name in defaults} == defaults


def test_env_example_documents_only_variables_the_readme_explains(baked):
    _, project_dir = baked

    assert env_example_variables(project_dir) - readme_table_variables(project_dir) == (
        set()
    )


def test_env_example_changes_nothing_as_it_is(baked):
    _, project_dir = baked
    lines = (project_dir / ".env.example").read_text().splitlines()

    assert [line for line in lines if line and not line.startswith("#")] == []


def test_client_variables_are_documented_only_with_the_client(baked):
    with_client, project_dir = baked
    documented = env_example_variables(project_dir) | readme_table_variables(
        project_dir
    )

    has_client_variables = any(
        name.startswith(CLIENT_ONLY_PREFIX) for name in documented
    )
    assert has_client_variables == with_client


def test_template_workflow_runs_the_ci_script_with_pinned_actions_and_pip_cache():
    workflow = load_workflow(TEMPLATE_WORKFLOW)
    (setup_python,) = [
        step["with"]
        for step in workflow["jobs"]["test"]["steps"]
        if step.get("uses", "").startswith("actions/setup-python@")
    ]

    assert_actions_pinned(TEMPLATE_WORKFLOW)
    assert setup_python["cache"] == "pip"
    assert setup_python["cache-dependency-path"] == "pyproject.toml"
    runs = [
        step.get("run", "")
        for job in workflow["jobs"].values()
        for step in job["steps"]
    ]
    assert "bash .ci/run" in runs
