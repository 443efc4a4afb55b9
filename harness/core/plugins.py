"""A user's own code, loaded before anything is validated: plugins.

A plugin is an ordinary Python file or module that registers what it adds when it is imported
(`register_model`, `FAMILIES`, `OBJECTIVES`, `LIKELIHOODS`, `METRICS`, `DATASETS`, `FEATURES`,
`register_strategy`, `EXECUTORS`; docs/your-model.md). It comes from three places, as
lm-evaluation-harness's `--include_path` and its installed task packages do:

- `[suite] plugins = ["my_models.py", "mylab.gans"]`: files relative to the suite file, or
  importable modules;
- `--plugin PATH_OR_MODULE` on every command;
- installed packages' entry points in the group `harness.plugins` (`pip install` a lab's models):
  the entry point names a module (importing it registers) or a function (called once).

Each is imported once per process, whichever way it came. What was loaded is recorded with every
run (module name, where it came from and a sha256 of its source), so `compare` and the
leaderboard can flag runs whose plugin code differs. This module imports no torch: a plugin may,
the harness's own light paths do not.
"""

import hashlib
import importlib
import importlib.util
import sys
import sysconfig
import traceback
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.core.errors import HarnessError

ENTRY_POINT_GROUP = "harness.plugins"


class PluginError(HarnessError):
    """A plugin that cannot be found or raised while it was imported (exit 2, before anything trains).

    The first line names the plugin, who asked for it and the error; the lines after it are the
    traceback of the plugin's own code (the harness's and importlib's frames left out), since
    that is what its author needs to fix."""

    exit_code = 2


@dataclass(frozen=True)
class Plugin:
    """One loaded plugin: as it was asked for, the module it became, its file and the hash of its source."""

    spec: str  # as written: "my_models.py", "mylab.gans", "entry point mylab"
    module: str
    source: str | None  # the file (a package: its folder) whose code was imported
    sha256: str | None  # of that source (a package: of its .py files, in path order)
    origin: str  # "suite <file>", "--plugin", "entry point <name> (<distribution>)"

    def record(self) -> dict[str, Any]:
        return asdict(self)


_LOADED: dict[str, Plugin] = {}  # key: the resolved file or module name
_ENTRY_POINTS_LOADED = False


def loaded_plugins() -> list[Plugin]:
    """Every plugin this process imported, in the order it imported them."""
    return list(_LOADED.values())


def plugin_hashes() -> dict[str, str]:
    """module -> sha256 of its source, of every plugin loaded: what a run records."""
    return {plugin.module: plugin.sha256 or "unknown" for plugin in _LOADED.values()}


def cli_plugins() -> list[str]:
    """The `--plugin` arguments this process was given (resolved), for commands it starts itself
    (a cluster task runs `harness run` again and needs the same code)."""
    return [plugin.source if plugin.source and plugin.spec.endswith(".py") else plugin.module
            for plugin in _LOADED.values() if plugin.origin == "--plugin"]


def load_plugins(specs: list[str], base: Path | None, origin: str) -> list[Plugin]:
    """Import each plugin of `specs` (files relative to `base`, else the working directory, or
    module names) once; the plugins, in order. Raises PluginError naming the first that fails."""
    return [load_plugin(spec, base, origin) for spec in specs]


def load_plugin(spec: str, base: Path | None, origin: str) -> Plugin:
    if _looks_like_file(spec):
        path = (Path(base or Path.cwd()) / Path(spec).expanduser()).resolve()
        if str(path) in _LOADED:
            return _LOADED[str(path)]
        if not path.is_file():
            raise PluginError(f"plugin {spec} ({origin}): no such file {path}; give a path relative to "
                              f"{'the suite file' if origin.startswith('suite') else 'the working directory'}, "
                              "or an importable module name")
        module_name = _module_name_for(path)
        plugin = Plugin(spec, module_name, str(path), _file_hash(path), origin)
        _import(plugin, lambda: _import_file(module_name, path))
        _LOADED[str(path)] = plugin
        return plugin
    if spec in _LOADED:
        return _LOADED[spec]
    if not all(part.isidentifier() for part in spec.split(".")):
        raise PluginError(f"plugin {spec!r} ({origin}): neither a .py file nor a module name (such as mylab.gans)")
    module = _import_module(spec, base, origin)
    source = _module_source(module)
    plugin = Plugin(spec, spec, str(source) if source else None, _source_hash(source), origin)
    _LOADED[spec] = plugin
    return plugin


def load_installed() -> list[Plugin]:
    """The installed packages' plugins (entry points of the group `harness.plugins`), once per process."""
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return [p for p in _LOADED.values() if p.origin.startswith("entry point")]
    _ENTRY_POINTS_LOADED = True
    plugins = []
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        distribution = entry.dist.name if entry.dist is not None else "unknown distribution"
        origin = f"entry point {entry.name} ({distribution})"
        if entry.value in _LOADED:
            continue
        plugin = Plugin(entry.value, entry.module, None, None, origin)
        loaded = _import(plugin, entry.load)
        if callable(loaded) and not isinstance(loaded, ModuleType):
            _import(plugin, loaded)  # `mylab.plugin:register`: a function that registers
        source = _module_source(sys.modules.get(entry.module))
        plugin = Plugin(entry.value, entry.module, str(source) if source else None, _source_hash(source), origin)
        _LOADED[entry.value] = plugin
        plugins.append(plugin)
    return plugins


# -- importing, and saying what went wrong --------------------------------------------------------


def _looks_like_file(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def _module_name_for(path: Path) -> str:
    """A module name for a plugin file: its stem, unless a module of that name is already imported
    (then the stem and a short hash of its path), so a user's `models.py` cannot shadow anything."""
    name = path.stem if path.stem.isidentifier() else "plugin_" + hashlib.sha256(path.stem.encode()).hexdigest()[:8]
    if name in sys.modules:
        name = f"{name}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    return name


def _import_file(module_name: str, path: Path) -> ModuleType:
    """Import a file as `module_name`, its folder on sys.path so it can import its neighbours."""
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up while it runs
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _import_module(name: str, base: Path | None, origin: str) -> ModuleType:
    """Import a module; the suite's folder and the working directory are searched too (`python -m`
    puts the working directory on sys.path, the `harness` script does not)."""
    for folder in (base, Path.cwd()):
        if folder is not None and str(folder) not in sys.path:
            sys.path.append(str(folder))
    plugin = Plugin(name, name, None, None, origin)
    try:
        return _import(plugin, lambda: importlib.import_module(name))
    except PluginError as err:
        if isinstance(err.__cause__, ModuleNotFoundError) and err.__cause__.name == name.split(".")[0]:
            raise PluginError(f"plugin {name} ({origin}): no module named {name!r}; install it, run from the folder "
                              "that holds it, or give the path of its file (my_models.py)") from None
        raise


def _import(plugin: Plugin, load: Any) -> Any:
    try:
        return load()
    except HarnessError as err:  # the plugin used the harness wrongly (a name registered twice, ...)
        raise PluginError(f"plugin {plugin.spec} ({plugin.origin}): {err}") from err
    except Exception as err:
        raise PluginError(failure(f"plugin {plugin.spec} ({plugin.origin}) failed to import", err)) from err


def failure(what: str, err: BaseException) -> str:
    """`what: Error: message` on one line, then the traceback of the user's own code: a plugin
    that fails while it is imported, or whose model fails while it is built."""
    message = " ".join(str(err).split())  # one line, whatever the exception's text
    lines = [f"{what}: {type(err).__name__}: {message}"]
    frames = _own_frames(err)
    if frames:
        lines += ["traceback of the plugin's code (most recent call last):", *frames]
    return "\n".join(lines)


def _own_frames(err: BaseException) -> list[str]:
    """The traceback's frames in the user's code (not importlib, the standard library, installed
    packages or the harness), and the frame that raised, wherever it is: what its author can fix."""
    libraries = tuple(str(Path(p).resolve()) for p in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"],
                                                       sysconfig.get_paths()["platlib"], str(Path(__file__).parents[1])})
    frames = traceback.extract_tb(err.__traceback__)
    own = [frame for index, frame in enumerate(frames)
           if index == len(frames) - 1 or not str(Path(frame.filename).resolve()).startswith(libraries)
           and "importlib" not in frame.filename]
    lines = []
    for frame in own:
        lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}')
        if frame.line:
            lines.append(f"    {frame.line}")
    if isinstance(err, SyntaxError) and err.filename:
        lines.append(f'  File "{err.filename}", line {err.lineno}')
        if err.text:
            lines.append(f"    {err.text.strip()}")
    return lines


# -- what was imported, hashed ------------------------------------------------------------------


def _module_source(module: ModuleType | None) -> Path | None:
    """A module's file; a package's folder (its __init__'s parent)."""
    file = getattr(module, "__file__", None)
    if not file:
        return None
    path = Path(file).resolve()
    return path.parent if path.name == "__init__.py" else path


def _source_hash(source: Path | None) -> str | None:
    if source is None:
        return None
    return _file_hash(source) if source.is_file() else _folder_hash(source)


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _folder_hash(folder: Path) -> str:
    """A package's code: every .py file under it, by relative path, in path order."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
