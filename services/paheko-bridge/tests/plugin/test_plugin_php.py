"""The plugin's PHP: its pure parts' own tests (hashing, tokens, validation) run with php-cli, no Paheko needed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

PLUGIN = Path(__file__).resolve().parents[4] / "paheko-plugin"


def test_the_plugin_pure_php_tests_pass() -> None:
    php = shutil.which("php")
    assert php is not None, "php-cli is missing: `make test` installs it (caisse-stack install)"
    run = subprocess.run(
        [php, str(PLUGIN / "tests" / "pure_test.php")], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert " 0 failed" in run.stdout


def test_make_plugin_builds_an_archive_paheko_reads_through_phar(tmp_path: Path) -> None:
    """Paheko 1.3 reads a plugin from data/plugins/<name>.tar.gz through phar://, plugin.ini at the archive's root
    (Plugins::getPath); the archive is read here the same way."""
    php, make = shutil.which("php"), shutil.which("make")
    assert php is not None
    assert make is not None
    subprocess.run(
        [make, "-s", "plugin", f"PLUGIN_DIST={tmp_path}"], cwd=PLUGIN.parent, check=True, capture_output=True
    )
    archive = tmp_path / "pos_bridge.tar.gz"
    script = (
        "foreach (['plugin.ini', 'install.php', 'upgrade.php', 'uninstall.php', 'router.php', 'schema.sql',"
        " 'lib/Api.php'] as $f) { echo $f, '=', (int) file_exists('phar://' . $argv[1] . '/' . $f), PHP_EOL; }"
        " echo parse_ini_string(file_get_contents('phar://' . $argv[1] . '/plugin.ini'))['min_version'], PHP_EOL;"
    )
    run = subprocess.run([php, "-r", script, str(archive)], capture_output=True, text=True, check=True)
    lines = run.stdout.split()
    assert all(line.endswith("=1") for line in lines[:-1]), run.stdout
    assert lines[-1] == "1.3"
