"""Launch files cannot run here (no ros2 launch wheels), so they are checked by reading them:
every executable is a console script (or a declared dependency), every parameter file exists,
every parameter name is a field of the node's config dataclass, every argument is declared."""

import ast
import dataclasses
import importlib
from importlib.metadata import entry_points
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
CONSOLE_SCRIPTS = {ep.name for ep in entry_points(group="console_scripts")
                   if ep.value.startswith("lam_ros.")}
EXEC_DEPENDS = {e.text for e in ElementTree.parse(ROOT / "package.xml").iter("exec_depend")}


def _calls(tree, name):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, "id", getattr(n.func, "attr", None)) == name]


def _kwarg(call, key):
    return next((k.value for k in call.keywords if k.arg == key), None)


def _literal(node):
    return node.value if isinstance(node, ast.Constant) else None


def node_config_class(executable):
    """The dataclass a node passes to declare_config(self, <Config>)."""
    module = importlib.import_module(f"lam_ros.nodes.{executable}")
    tree = ast.parse(Path(module.__file__).read_text())
    names = [c.args[1].id for c in _calls(tree, "declare_config") if len(c.args) > 1]
    assert len(names) == 1, f"{executable} should declare its parameters from one dataclass"
    return getattr(module, names[0])


def _nodes(path):
    tree = ast.parse(path.read_text())
    return tree, _calls(tree, "Node")


def test_launch_files_exist():
    assert {p.name for p in LAUNCH_FILES} >= {"sim.launch.py", "record.launch.py",
                                              "policy.launch.py"}


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_executables_are_installed(path):
    _, nodes = _nodes(path)
    assert nodes, f"{path.name} starts no node"
    for node in nodes:
        package = _literal(_kwarg(node, "package"))
        executable = _literal(_kwarg(node, "executable"))
        if package == "lam_ros":
            assert executable in CONSOLE_SCRIPTS, f"{path.name}: no console script {executable}"
        else:
            assert package in EXEC_DEPENDS, f"{path.name}: {package} is not an exec_depend"


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_parameter_files_exist_and_name_real_parameters(path):
    _, nodes = _nodes(path)
    for node in nodes:
        if _literal(_kwarg(node, "package")) != "lam_ros":
            continue
        executable = _literal(_kwarg(node, "executable"))
        fields = {f.name for f in dataclasses.fields(node_config_class(executable))}
        fields.add("use_sim_time")
        for item in _kwarg(node, "parameters").elts:
            if isinstance(item, ast.Dict):
                names = {_literal(k) for k in item.keys}
            else:  # PathJoinSubstitution([config, "x.yaml"])
                yaml_name = _literal(item.args[0].elts[-1])
                params_file = ROOT / "config" / yaml_name
                assert params_file.is_file(), f"{path.name}: missing config/{yaml_name}"
                content = yaml.safe_load(params_file.read_text()) or {}
                names = set(content.get(executable, {}).get("ros__parameters", {}))
            unknown = names - fields
            assert not unknown, f"{path.name}: {executable} has no parameters {unknown}"


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_arguments_are_declared(path):
    tree, _ = _nodes(path)
    declared = {_literal(c.args[0]) for c in _calls(tree, "DeclareLaunchArgument")}
    used = {_literal(c.args[0]) for c in _calls(tree, "LaunchConfiguration")}
    assert used <= declared, f"{path.name}: undeclared launch arguments {used - declared}"


@pytest.mark.parametrize("set_name", ["sim", "record", "policy"])
def test_lam_ros_launch_starts_what_the_launch_file_starts(set_name):
    from argparse import Namespace

    from lam_ros.commands.launch import node_sets

    args = Namespace(set=set_name, robot="panda_sim", sim=True, expert=True, data="d",
                     task="t", model="m.onnx")
    ours = {s.executable: sorted(Path(f).name for f in s.params_files) for s in node_sets(args)}
    _, nodes = _nodes(ROOT / "launch" / f"{set_name}.launch.py")
    theirs = {}
    for node in nodes:
        if _literal(_kwarg(node, "package")) == "lam_ros":
            files = [_literal(i.args[0].elts[-1]) for i in _kwarg(node, "parameters").elts
                     if not isinstance(i, ast.Dict)]
            theirs[_literal(_kwarg(node, "executable"))] = sorted(files)
    assert ours == theirs
