"""The server's state between requests: projects, analyses, what was published.

Handlers in `server.py` stay one-liners over this: a document URI becomes the
project it belongs to and that project's current analysis (compiled from the
open buffers over the files on disk); diagnostics are published per file of
the project, only when they changed, and cleared for files that left it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types
from pygls.uris import to_fs_path

from .analysis import Analysis, Analyzer, Debouncer
from .positions import Positions
from .project import Project, Projects
from .report import publishable

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 0.25
SUFFIX = ".pricing"


@dataclass(frozen=True)
class Options:
    """`initializationOptions` the server understands (all optional)."""

    projects: tuple[str, ...] = ()  # sub-directories of the workspace that are projects of their own
    diagnostics_docs: str | None = None  # base URL of docs/diagnostics.md for code links
    debounce: float = DEBOUNCE_SECONDS

    @classmethod
    def of(cls, raw) -> "Options":
        raw = raw if isinstance(raw, dict) else {}
        projects = raw.get("projects") or ()
        docs = raw.get("diagnosticsDocs")
        debounce = raw.get("debounce", DEBOUNCE_SECONDS)
        return cls(
            projects=tuple(str(p) for p in projects) if isinstance(projects, list) else (),
            diagnostics_docs=docs if isinstance(docs, str) and docs else None,
            debounce=float(debounce) if isinstance(debounce, (int, float)) and debounce >= 0 else DEBOUNCE_SECONDS,
        )


def path_of(uri: str) -> Path | None:
    """The file a URI names, for `.pricing` files on disk (None for anything else)."""
    if not uri.startswith("file:"):
        return None
    path = to_fs_path(uri)
    if path is None or not path.endswith(SUFFIX):
        return None
    return Path(path).resolve()


class Session:
    def __init__(self) -> None:
        self.options = Options()
        self.projects = Projects([])
        self.analyzer = Analyzer()
        self.positions = Positions()
        self.debouncer = Debouncer(DEBOUNCE_SECONDS)
        self.published: dict[Path, dict[str, list[types.Diagnostic]]] = {}
        self.documents = None  # pygls workspace: the open documents

    def configure(self, params: types.InitializeParams, workspace) -> None:
        self.options = Options.of(params.initialization_options)
        self.debouncer.delay = self.options.debounce
        self.positions = Positions(workspace.position_encoding)
        self.documents = workspace
        folders = [to_fs_path(f.uri) for f in params.workspace_folders or []]
        if not folders and params.root_uri:
            folders = [to_fs_path(params.root_uri)]
        elif not folders and params.root_path:
            folders = [params.root_path]
        self.set_folders([Path(f) for f in folders if f])

    def set_folders(self, folders: list[Path]) -> None:
        """The workspace folders (at start, or after the editor added or removed one)."""
        roots = list(folders)
        if self.options.projects:  # the listed folders replace the workspace folders as projects
            roots = [folder / p for folder in roots for p in self.options.projects if (folder / p).is_dir()]
        self.projects = Projects(roots)

    def folders_changed(self, server) -> None:
        folders = [to_fs_path(f.uri) for f in self.documents.folders.values()]
        old = {p.root for p in self.projects.all()}
        self.set_folders([Path(f) for f in folders if f])
        for root in old - {p.root for p in self.projects.roots}:
            for uri in self.published.pop(root, {}):  # a folder that left: clear what it showed
                server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, []))
        self.schedule(server)

    # ------------------------------------------------------------ analyses

    def buffers(self) -> dict[Path, str]:
        out = {}
        if self.documents is None:
            return out
        for uri, doc in self.documents.text_documents.items():
            path = path_of(uri)
            if path is not None:
                out[path] = doc.source
        return out

    def project_of(self, uri: str) -> Project | None:
        path = path_of(uri)
        return self.projects.for_path(path) if path is not None else None

    def analysis(self, uri: str) -> tuple[Analysis, str] | None:
        """The up-to-date analysis of the document's project, and the document's name in it."""
        project = self.project_of(uri)
        if project is None:
            return None
        analysis = self.analyzer.analyse(project, self.buffers())
        name = analysis.name_of(path_of(uri))
        return (analysis, name) if name is not None else None

    def text(self, uri: str) -> str:
        return self.documents.get_text_document(uri).source

    # ------------------------------------------------------------ diagnostics

    def schedule(self, server, uri: str | None = None, *, now: bool = False) -> None:
        """Publish the diagnostics of `uri`'s project (every project if None) after the pause."""
        projects = [self.project_of(uri)] if uri is not None else self.projects.all()
        for project in projects:
            if project is None:
                continue
            self.debouncer.call(project.root, lambda p=project: self.publish(server, p),
                                delay=0 if now else None)

    async def publish(self, server, project: Project) -> None:
        buffers = self.buffers()
        try:
            analysis = await asyncio.to_thread(self.analyzer.analyse, project, buffers)
        except Exception as exc:  # noqa: BLE001 - a bug must not take the server down
            log.exception("analysis of %s failed", project.root)
            server.window_log_message(types.LogMessageParams(
                types.MessageType.Error, f"ratecard: analysis of {project.root} failed: {exc}"))
            return
        if self.analyzer.latest(project) is not analysis:
            return  # a newer analysis has been (or will be) published
        current = publishable(analysis, self.positions, self.options.diagnostics_docs)
        before = self.published.get(project.root, {})
        for uri in before.keys() - current.keys():  # a file that left the project
            server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, []))
        for uri, items in current.items():
            if before.get(uri) != items:
                server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, items))
        self.published[project.root] = current
        log.info("analysed %s: %d files in %.1f ms", project.root, len(analysis.paths),
                 analysis.elapsed * 1000)

    def refresh(self, server, uri: str) -> None:
        """A project file was opened, saved or closed: list the project's files again, re-publish."""
        project = self.project_of(uri)
        if project is not None:
            project.forget_files()
        self.schedule(server, uri, now=True)

    def files_changed(self, server) -> None:
        self.projects.forget_files()
        self.schedule(server)
