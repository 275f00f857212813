// Starts `ratecard lsp` for .pricing files. Everything else (diagnostics, hover,
// completion, formatting...) comes from the server; the highlighting from
// syntaxes/ratecard.tmLanguage.json, refined by the server's semantic tokens.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("ratecard");
  const command = config.get("path") || "ratecard";
  const serverOptions = { command, args: ["lsp"] };
  const clientOptions = {
    documentSelector: [{ scheme: "file", language: "ratecard" }],
    initializationOptions: {
      projects: config.get("projects") || [],
      diagnosticsDocs: config.get("diagnosticsDocs") || undefined,
    },
  };
  client = new LanguageClient("ratecard", "ratecard", serverOptions, clientOptions);
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
