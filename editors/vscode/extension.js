// Starts `ruledsl lsp` (stdio) for .rdsl files. Plain JavaScript: no build step.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("ruledsl");
  const command = config.get("server.command", "ruledsl");
  const args = config.get("server.args", ["lsp"]);
  const folder = vscode.workspace.workspaceFolders && vscode.workspace.workspaceFolders[0];
  // the server resolves paths in diagnostics from its working directory: the workspace root
  const options = folder ? { cwd: folder.uri.fsPath } : {};
  const serverOptions = { command, args, transport: TransportKind.stdio, options };
  const clientOptions = {
    documentSelector: [{ scheme: "file", language: "ruledsl" }, { scheme: "untitled", language: "ruledsl" }],
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/*.rdsl") },
  };
  client = new LanguageClient("ruledsl", "ruledsl", serverOptions, clientOptions);
  client.start();
  context.subscriptions.push({ dispose: () => client && client.stop() });
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
