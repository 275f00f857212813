"""`ratecard lsp` under a real LSP client over stdio (pytest-lsp), one test per feature.

Each test copies an example project into a temporary directory, starts the
server on it as an editor would (workspace folder = the project) and talks to
it through the protocol only.
"""

from __future__ import annotations

import asyncio
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from ratecard.cli import main
from ratecard.compiler import compile_paths
from ratecard.syntax.fmt import format_source
from lsp_helpers import (EXAMPLES, SERVER, apply_edits, copy_example, doc, initialize, open_doc, pos,
                         replace_all, uri, wait_for)

pytestmark = pytest.mark.asyncio


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient):
    lsp_client.registrations = []

    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams):
        lsp_client.registrations.extend(params.registrations)

    yield
    await lsp_client.shutdown_session()


def published(client, path: Path):
    return client.diagnostics.get(uri(path))


def cleared(client, *paths: Path) -> bool:
    """Has an empty list of diagnostics been published last for each of `paths`?"""
    return all(uri(p) in client.diagnostics and len(client.diagnostics[uri(p)]) == 0 for p in paths)


async def settled(client, root: Path, count: int):
    """Wait until every one of the project's `count` files had its diagnostics published."""
    return await wait_for(lambda: len([u for u in client.diagnostics if u.startswith(uri(root))]) >= count,
                          what=f"diagnostics for {count} files")


# ---------------------------------------------------------------- diagnostics


async def test_diagnostics_on_every_file_with_docs_links_notes_and_clearing(client, tmp_path):
    root = copy_example("enterprise", tmp_path)
    await initialize(client, root)
    await settled(client, root, 3)
    assert all(not published(client, root / f) for f in ("meters.pricing", "plans.pricing", "contracts.pricing"))

    plans = root / "plans.pricing"
    text = plans.read_text()
    u = open_doc(client, plans)
    replace_all(client, u, text.replace("charge COMPUTE_HOURS", "charge COMPUTE_HOUR"), 2)
    diags = await wait_for(lambda: published(client, plans), what="E201 on plans.pricing")
    (e201,) = [d for d in diags if d.code == "E201"]
    assert e201.message.startswith("unknown meter `COMPUTE_HOUR` (did you mean `COMPUTE_HOURS`?)")
    assert e201.severity == types.DiagnosticSeverity.Error and e201.source == "ratecard"
    start = pos(text, "COMPUTE_HOURS")
    assert e201.range == types.Range(start, types.Position(start.line, start.character + len("COMPUTE_HOUR")))
    href = e201.code_description.href
    assert href.endswith("/diagnostics.md#e201--unknown-meter")
    doc_text = Path(href.split("#")[0].removeprefix("file://")).read_text(encoding="utf-8")
    assert "### E201 — unknown meter" in doc_text
    # the other files of the project get their own consequences: once the charge is gone (not
    # misspelt: a typo's consequences are not reported), the meter is no longer charged
    replace_all(client, u, text.replace("charge COMPUTE_HOURS", ""), 3)
    meters = await wait_for(lambda: published(client, root / "meters.pricing"), what="W001 on meters.pricing")
    assert [d.code for d in meters] == ["W001"]
    assert meters[0].severity == types.DiagnosticSeverity.Warning

    # an unsaved buffer that is not on disk joins the project; notes become related information
    extra = root / "more.pricing"  # read after meters.pricing, so the duplicate is here
    eu = open_doc(client, extra, 'meter API_CALLS { event "x" count }\n')
    dup = await wait_for(lambda: [d for d in published(client, extra) or () if d.code == "E200"], what="E200")
    (info,) = dup[0].related_information
    assert info.location.uri == uri(root / "meters.pricing")
    assert info.location.range.start == pos((root / "meters.pricing").read_text(), "API_CALLS")
    assert info.message == "`API_CALLS` is first defined here"

    # fixed: every file's diagnostics are cleared
    replace_all(client, eu, "# nothing here yet\n", 2)
    empty = await wait_for(lambda: [d for d in published(client, extra) or () if d.code == "W009"], what="W009")
    assert [d.code for d in published(client, extra)] == ["W009"] and empty[0].severity == types.DiagnosticSeverity.Warning
    client.text_document_did_close(types.DidCloseTextDocumentParams(doc(eu)))  # an unsaved buffer closed: gone
    replace_all(client, u, text, 4)
    await wait_for(lambda: cleared(client, plans, root / "meters.pricing", extra), what="cleared")


async def test_files_created_and_deleted_on_disk(client, tmp_path):
    root = copy_example("enterprise", tmp_path)
    await initialize(client, root)
    await settled(client, root, 3)
    assert any(r.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES for r in client.registrations)
    new = root / "late" / "more.pricing"
    new.parent.mkdir()
    new.write_text("plan extra {\n  charge API_CALL\n}\n", encoding="utf-8")
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(
        [types.FileEvent(uri(new), types.FileChangeType.Created)]))
    diags = await wait_for(lambda: published(client, new), what="diagnostics of a file never opened")
    assert [d.code for d in diags] == ["E201"]
    new.unlink()
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(
        [types.FileEvent(uri(new), types.FileChangeType.Deleted)]))
    await wait_for(lambda: cleared(client, new), what="a deleted file's diagnostics cleared")


# ---------------------------------------------------------------- navigation


async def test_definition_and_references(client, tmp_path):
    root = copy_example("enterprise", tmp_path)
    await initialize(client, root)
    contracts, meters, plans = (root / f for f in ("contracts.pricing", "meters.pricing", "plans.pricing"))
    ctext, mtext, ptext = contracts.read_text(), meters.read_text(), plans.read_text()
    cu = open_doc(client, contracts)

    async def definition(u, text, needle, offset=1, nth=0):
        return await client.text_document_definition_async(types.DefinitionParams(
            doc(u), pos(text, needle, offset, nth)))

    # a meter, from an override
    (loc,) = await definition(cu, ctext, "override COMPUTE_HOURS", len("override "))
    assert loc.uri == uri(meters) and loc.range.start == pos(mtext, "COMPUTE_HOURS")
    # a plan, from a contract
    (loc,) = await definition(cu, ctext, "plan enterprise", len("plan "))
    assert loc.uri == uri(plans) and loc.range.start == pos(ptext, "plan enterprise", len("plan "))
    # a meter's dimension, from a condition in a contract override
    (loc,) = await definition(cu, ctext, 'instance = "gpu.a100"')
    assert loc.uri == uri(meters) and loc.range.start == pos(mtext, "instance in")
    # a key only contracts set, from a condition on the meter's rate card
    mu = open_doc(client, meters)
    (loc,) = await definition(mu, mtext, "customer_tier")
    assert loc.uri == uri(contracts) and loc.range.start == pos(ctext, "customer_tier")

    refs = await client.text_document_references_async(types.ReferenceParams(
        text_document=doc(mu), position=pos(mtext, "COMPUTE_HOURS", 2),
        context=types.ReferenceContext(include_declaration=True)))
    found = sorted((r.uri.rsplit("/", 1)[1], r.range.start.line) for r in refs)
    assert found == sorted([("meters.pricing", pos(mtext, "COMPUTE_HOURS").line),
                            ("plans.pricing", pos(ptext, "charge COMPUTE_HOURS").line),
                            ("contracts.pricing", pos(ctext, "override COMPUTE_HOURS").line),
                            ("contracts.pricing", pos(ctext, "override COMPUTE_HOURS", nth=1).line)])
    refs = await client.text_document_references_async(types.ReferenceParams(
        text_document=doc(mu), position=pos(mtext, "instance in"),
        context=types.ReferenceContext(include_declaration=False)))
    assert len(refs) == 4  # three rules of the meter, globex's override
    assert {r.uri for r in refs} == {uri(meters), uri(contracts)}


async def test_contract_references_from_pricing_tests(client, tmp_path):
    root = copy_example("pricing-tests", tmp_path)
    await initialize(client, root)
    acme = root / "acme.test.pricing"
    text = acme.read_text()
    u = open_doc(client, acme)
    (loc,) = await client.text_document_definition_async(types.DefinitionParams(
        doc(u), pos(text, "contract acme", len("contract "))))
    assert loc.uri == uri(root / "contracts.pricing")
    refs = await client.text_document_references_async(types.ReferenceParams(
        text_document=doc(u), position=pos(text, "contract acme", len("contract ")),
        context=types.ReferenceContext(include_declaration=False)))
    assert len(refs) == text.count("contract acme")


# ---------------------------------------------------------------- hover


def _explain_globex(root: Path) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["explain", str(root), "--usage", str(EXAMPLES / "enterprise" / "usage.jsonl"),
                     "--through", "2026-04-01", "--contract", "globex"])
    assert code == 0
    return out.getvalue()


async def test_hover_meter_rule_plan_and_credit(client, tmp_path):
    root = copy_example("enterprise", tmp_path)
    await initialize(client, root)
    contracts, plans = root / "contracts.pricing", root / "plans.pricing"
    ctext = contracts.read_text()
    cu = open_doc(client, contracts)

    async def hover(u, text, needle, offset=1):
        h = await client.text_document_hover_async(types.HoverParams(doc(u), pos(text, needle, offset)))
        assert h is not None and h.contents.kind == types.MarkupKind.Markdown
        return h.contents.value

    meter = await hover(cu, ctext, "override COMPUTE_HOURS", len("override "))
    assert "event `compute.usage`, aggregated as `sum hours`" in meter
    assert '- `instance = "gpu.a100" : $2.5 per hour`' in meter and "rate card (per hour):" in meter

    # the override rule: wins for globex's gpu lines, in the words `explain` prints for that line
    rule = await hover(cu, ctext, '"gpu.a100" : $2.10', len('"gpu.a100" : '))
    explained = _explain_globex(root)
    why = next(line.split(", ", 1)[1] for line in explained.splitlines()
               if line.strip().startswith("winner:") and "contracts.pricing:12" in line)
    assert f'- instance = "gpu.a100" for `globex`: **wins**: {why}' in rule

    # the meter's own gpu rule loses to that override for globex and wins for the others
    mtext = (root / "meters.pricing").read_text()
    mu = open_doc(client, root / "meters.pricing")
    lost = await hover(mu, mtext, "$2.50")
    assert "for `globex`: lower layer; priced by contracts.pricing:12 [contract globex]" in lost
    assert "for `soylent`, `tyrell`, `umbrella`: **wins**" in lost

    ptext = plans.read_text()
    pu = open_doc(client, plans)
    plan = await hover(pu, ptext, "plan enterprise", len("plan "))
    assert "charges:" in plan and "- `COMPUTE_HOURS`: the meter's rate card" in plan
    assert '- fee "Platform licence": $24000 per year' in plan

    credit = await hover(cu, ctext, "credit $50_000", 2)
    assert "pays invoices whose period overlaps 2025-10-01 through 2026-09-30" in credit
    assert "bought for $45000" in credit


# ---------------------------------------------------------------- completion


async def test_completion_in_context(client, tmp_path):
    root = copy_example("enterprise", tmp_path)
    await initialize(client, root)
    scratch = root / "scratch.pricing"
    u = open_doc(client, scratch, "")
    version = 1

    async def complete(text: str) -> list[str]:
        nonlocal version
        version += 1
        replace_all(client, u, text, version)
        lines = text.split("\n")
        result = await client.text_document_completion_async(types.CompletionParams(
            doc(u), types.Position(len(lines) - 1, len(lines[-1]))))
        return [i.label for i in sorted(result.items, key=lambda i: i.sort_text or i.label)]

    assert await complete("") == ["contract", "currency", "grace", "meter", "numbering", "plan", "rounding", "test"]
    assert set(await complete("plan p {\n  ")) == {"autopay", "billing", "charge", "fee", "minimum",
                                                     "payment", "title", "cap", "allowance"}
    assert await complete("plan p {\n  charge ") == ["ACTIVE_USERS", "API_CALLS", "COMPUTE_HOURS"]
    assert await complete("plan p {\n  billing ") == ["monthly", "quarterly", "annual"]
    assert await complete("contract c {\n  plan ") == ["enterprise"]
    keys = await complete("plan p {\n  charge COMPUTE_HOURS {\n    ")
    assert keys == ["instance", "customer_tier", "default"]  # the meter's own keys first
    assert await complete('plan p {\n  charge COMPUTE_HOURS {\n    instance = ') == \
        ['"cpu.large"', '"cpu.small"', '"gpu.a100"']
    units = await complete("plan p {\n  charge COMPUTE_HOURS : $1 per ")
    assert units[0] == "hour" and {"calls", "user"} <= set(units)
    assert "sum" in await complete("meter M {\n  event \"e\"\n  ")
    # an unfinished line above does not hide the context
    assert await complete("plan p {\n  charg\n  charge ") == ["ACTIVE_USERS", "API_CALLS", "COMPUTE_HOURS"]


# ---------------------------------------------------------------- formatting


async def test_formatting_is_ratecard_fmt(client, tmp_path):
    root = copy_example("enterprise", tmp_path)
    await initialize(client, root)
    messy = root / "messy.pricing"
    text = ('# spacing all over\nplan  trial{title "Trial"\n charge API_CALLS:$0.60 per 1K calls   # list\n'
            '   charge ACTIVE_USERS\n}\n')
    messy.write_text(text, encoding="utf-8")
    u = open_doc(client, messy)
    edits = await client.text_document_formatting_async(types.DocumentFormattingParams(
        doc(u), types.FormattingOptions(tab_size=2, insert_spaces=True)))
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["fmt", "--stdout", str(messy)]) == 0
    assert apply_edits(text, edits) == out.getvalue() == format_source(text, str(messy))[0]
    # already formatted: no edits; a file that does not parse: no answer
    replace_all(client, u, out.getvalue(), 2)
    unchanged = await client.text_document_formatting_async(types.DocumentFormattingParams(
        doc(u), types.FormattingOptions(tab_size=2, insert_spaces=True)))
    assert unchanged is not None and len(unchanged) == 0
    replace_all(client, u, "plan {", 3)
    assert await client.text_document_formatting_async(types.DocumentFormattingParams(
        doc(u), types.FormattingOptions(tab_size=2, insert_spaces=True))) is None


# ---------------------------------------------------------------- symbols and tokens


async def test_document_symbols(client, tmp_path):
    root = copy_example("enterprise", tmp_path)
    await initialize(client, root)
    u = open_doc(client, root / "meters.pricing")
    symbols = await client.text_document_document_symbol_async(types.DocumentSymbolParams(doc(u)))
    assert [(s.name, s.kind) for s in symbols] == [
        ("currency USD", types.SymbolKind.Constant), ("COMPUTE_HOURS", types.SymbolKind.Struct),
        ("API_CALLS", types.SymbolKind.Struct), ("ACTIVE_USERS", types.SymbolKind.Struct)]
    compute = symbols[1]
    assert compute.detail == "meter: compute.usage"
    assert [c.name for c in compute.children] == ["instance", 'instance = "cpu.small"', 'instance = "cpu.large"',
                                                  'instance = "gpu.a100"', 'customer_tier = "strategic"']
    assert compute.children[4].detail == "10% off"


def decode(data, legend: types.SemanticTokensLegend, text: str) -> list[tuple[str, str, bool]]:
    """(text, type, is declaration) per token, from the relative LSP encoding (ASCII text)."""
    lines = text.split("\n")
    out, line, char = [], 0, 0
    for i in range(0, len(data), 5):
        dl, dc, length, kind, mods = data[i:i + 5]
        line += dl
        char = char + dc if dl == 0 else dc
        out.append((lines[line][char:char + length], legend.token_types[kind], bool(mods & 1)))
    return out


async def test_semantic_tokens(client, tmp_path):
    root = copy_example("enterprise", tmp_path)
    result = await initialize(client, root)
    legend = result.capabilities.semantic_tokens_provider.legend
    path = root / "contracts.pricing"
    text = path.read_text()
    u = open_doc(client, path)
    tokens = decode((await client.text_document_semantic_tokens_full_async(
        types.SemanticTokensParams(doc(u)))).data, legend, text)
    assert ("contract", "keyword", False) in tokens
    assert ("globex", "struct", True) in tokens
    assert ("enterprise", "class", False) in tokens
    assert ("COMPUTE_HOURS", "type", False) in tokens
    assert ("instance", "property", False) in tokens
    assert ('"gpu.a100"', "string", False) in tokens
    assert ("$2.10", "number", False) in tokens
    assert ("monthly", "enumMember", False) in tokens
    assert tokens[0] == ("# The contract book: what each enterprise customer negotiated.", "comment", False)
    # while the file does not parse, the lexical layer still colours it
    replace_all(client, u, "contract broken {\n  plan", 2)
    tokens = decode((await client.text_document_semantic_tokens_full_async(
        types.SemanticTokensParams(doc(u)))).data, legend, "contract broken {\n  plan")
    assert tokens == [("contract", "keyword", False), ("plan", "keyword", False)]


# ---------------------------------------------------------------- code actions


async def test_did_you_mean_quick_fixes(client, tmp_path):
    root = copy_example("enterprise", tmp_path)
    await initialize(client, root)
    plans = root / "plans.pricing"
    text = plans.read_text().replace("charge COMPUTE_HOURS", "charge COMPUTE_HOUR") \
        .replace("billing quarterly", "billing quartely")
    plans.write_text(text, encoding="utf-8")
    u = open_doc(client, plans)
    diags = await wait_for(lambda: published(client, plans), what="diagnostics")
    assert sorted(d.code for d in diags) == ["E201", "E300"]

    async def fixes(diag, target):
        return await client.text_document_code_action_async(types.CodeActionParams(
            doc(target), diag.range, types.CodeActionContext(diagnostics=[diag])))

    for d in diags:
        (action,) = await fixes(d, u)
        assert action.kind == types.CodeActionKind.QuickFix and action.is_preferred
        text = apply_edits(text, action.edit.changes[u])
    assert "charge COMPUTE_HOURS" in text and "billing quarterly" in text
    replace_all(client, u, text, 2)
    await wait_for(lambda: cleared(client, plans), what="fixed")

    # E401 underlines the whole rule; the fix renames only the condition's key
    meters = root / "meters.pricing"
    mtext = meters.read_text().replace('instance = "cpu.large"', 'instanse = "cpu.large"')
    mu = open_doc(client, meters, mtext)
    (e401,) = await wait_for(lambda: [d for d in published(client, meters) or () if d.code == "E401"],
                             what="E401")
    (action,) = await fixes(e401, mu)
    assert action.title == "Replace `instanse` with `instance`"
    (edit,) = action.edit.changes[mu]
    assert edit.range.start == pos(mtext, "instanse")
    assert apply_edits(mtext, [edit]) == meters.read_text()


# ---------------------------------------------------------------- positions


NON_ASCII = 'plan p {\n  title "Café crème 🚀 pour vous"  charge API_CALLS  charge COMPUTE_HOUR\n}\n'


@pytest.mark.parametrize("offered, chosen, unit", [
    ((), "utf-16", "utf-16-le"),
    (("utf-16", "utf-8"), "utf-8", "utf-8"),
    (("utf-16", "utf-32", "utf-8"), "utf-32", "utf-32-le"),
])
async def test_positions_in_the_negotiated_encoding(client, tmp_path, offered, chosen, unit):
    root = copy_example("enterprise", tmp_path)
    result = await initialize(client, root, *offered)
    assert result.capabilities.position_encoding == chosen
    path = root / "accents.pricing"
    path.write_text(NON_ASCII, encoding="utf-8")
    u = open_doc(client, path)
    (diag,) = await wait_for(lambda: published(client, path), what="E201 after non-ASCII text")
    line = NON_ASCII.split("\n")[1]
    width = {"utf-16-le": 2, "utf-8": 1, "utf-32-le": 4}[unit]
    start = len(line[:line.index("COMPUTE_HOUR")].encode(unit)) // width
    assert diag.range == types.Range(types.Position(1, start), types.Position(1, start + len("COMPUTE_HOUR")))
    # the client's positions are read in the same units: hover on a meter name after the emoji
    calls = len(line[:line.index("API_CALLS")].encode(unit)) // width
    hover = await client.text_document_hover_async(types.HoverParams(doc(u), types.Position(1, calls + 3)))
    assert hover is not None and "**meter `API_CALLS`**" in hover.contents.value
    assert hover.range == types.Range(types.Position(1, calls), types.Position(1, calls + len("API_CALLS")))
    # an incremental edit after the emoji lands where the client meant it
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(version=2, uri=u),
        [types.TextDocumentContentChangePartial(range=types.Range(
            types.Position(1, start + len("COMPUTE_HOUR")), types.Position(1, start + len("COMPUTE_HOUR"))),
            text="S")]))
    await wait_for(lambda: cleared(client, path), what="fixed by an edit after the emoji")


# ---------------------------------------------------------------- projects


async def test_the_projects_option_splits_a_workspace(client, tmp_path):
    workspace = tmp_path / "repo"
    for name in ("enterprise", "ai-api"):
        copy_example(name, workspace)
    await initialize(client, workspace, options={"projects": ["enterprise", "ai-api"]})
    files = sorted(workspace.rglob("*.pricing"))
    await settled(client, workspace, len(files))
    # each example compiles on its own: clean, although both define `currency USD` and plans
    assert all(published(client, f) == [] or len(published(client, f)) == 0 for f in files)
    # a file in neither project is checked with its neighbours only
    loose = workspace / "scratch.pricing"
    u = open_doc(client, loose, "plan p { charge COMPUTE_HOURS }\n")
    (diag,) = await wait_for(lambda: published(client, loose), what="the loose file's diagnostics")
    assert diag.code == "E201"
    # closing an unsaved buffer takes it out of the project: its diagnostics are cleared
    client.text_document_did_close(types.DidCloseTextDocumentParams(doc(u)))
    await wait_for(lambda: cleared(client, loose), what="a closed buffer cleared")


async def test_without_the_option_the_workspace_folder_is_one_project(client, tmp_path):
    workspace = tmp_path / "repo"
    for name in ("enterprise", "storage"):
        copy_example(name, workspace)
    await initialize(client, workspace)
    files = sorted(workspace.rglob("*.pricing"))
    await settled(client, workspace, len(files))
    codes = {d.code for f in files for d in published(client, f) or ()}
    assert codes == {d.code for d in compile_paths([str(workspace)]).diagnostics}
    assert codes  # the two examples do not form one valid project


# ---------------------------------------------------------------- every example project


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir() if list(p.glob("*.pricing"))))
async def test_every_example_project_in_an_editor(client, tmp_path, example):
    """What the issue asks of an editor on each example: diagnostics (as `check`), definition,
    hover, completion and formatting (as `fmt`)."""
    root = copy_example(example, tmp_path)
    await initialize(client, root)
    files = sorted(root.rglob("*.pricing"))
    await settled(client, root, len(files))
    expected = compile_paths([str(root)]).diagnostics
    shown = [(f.name, d.code) for f in files for d in published(client, f)]
    assert sorted(shown) == sorted((Path(d.span.file).name, d.code) for d in expected)
    meters = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        u = open_doc(client, path)
        for i, line in enumerate(text.split("\n")):
            words = line.split()
            if len(words) < 2 or words[0] not in ("charge", "override", "meter"):
                continue
            at = types.Position(i, line.index(words[1]) + 1)
            (loc,) = await client.text_document_definition_async(types.DefinitionParams(doc(u), at))
            hover = await client.text_document_hover_async(types.HoverParams(doc(u), at))
            meter = words[1].rstrip("{:")
            assert f"**meter `{meter}`**" in hover.contents.value
            assert loc.range.start.character > 0
            meters += 1
        items = await client.text_document_completion_async(types.CompletionParams(
            doc(u), types.Position(len(text.split("\n")) - 1, 0)))
        assert {"meter", "plan", "contract"} <= {i.label for i in items.items}
        edits = await client.text_document_formatting_async(types.DocumentFormattingParams(
            doc(u), types.FormattingOptions(tab_size=2, insert_spaces=True)))
        assert apply_edits(text, edits or []) == format_source(text, str(path))[0]
    assert meters > 0


async def test_workspace_folders_added_and_removed(client, tmp_path):
    first = copy_example("enterprise", tmp_path)
    second = copy_example("storage", tmp_path)
    broken = first / "broken.pricing"
    broken.write_text("plan p { charge NOPE }\n", encoding="utf-8")
    await initialize(client, first)
    await wait_for(lambda: published(client, broken), what="the first folder's diagnostics")
    client.workspace_did_change_workspace_folders(types.DidChangeWorkspaceFoldersParams(
        types.WorkspaceFoldersChangeEvent(added=[types.WorkspaceFolder(uri(second), second.name)],
                                          removed=[types.WorkspaceFolder(uri(first), first.name)])))
    await settled(client, second, len(list(second.rglob("*.pricing"))))
    await wait_for(lambda: cleared(client, broken), what="a removed folder's diagnostics cleared")


# ---------------------------------------------------------------- the process


def _message(body: dict) -> bytes:
    data = json.dumps(body).encode()
    return b"Content-Length: %d\r\n\r\n" % len(data) + data


@pytest.mark.parametrize("shutdown, code", [(True, 0), (False, 1)])
async def test_the_server_exits_as_the_protocol_says(tmp_path, shutdown, code):
    """`exit` after `shutdown` ends the process with 0 and nothing on standard error; `exit`
    without it, with 1 (LSP 3.17). pygls closes the stream it writes to on `exit`."""
    messages = [{"jsonrpc": "2.0", "id": 1, "method": "initialize",
                 "params": {"processId": None, "rootUri": uri(tmp_path), "capabilities": {}}},
                {"jsonrpc": "2.0", "method": "initialized", "params": {}}]
    if shutdown:
        messages.append({"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
    messages.append({"jsonrpc": "2.0", "method": "exit"})
    proc = await asyncio.create_subprocess_exec(*SERVER, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(b"".join(_message(m) for m in messages)), 60)
    assert b'"id": 1' in out.replace(b'"id":1', b'"id": 1')
    assert err.decode() == ""
    assert proc.returncode == code
