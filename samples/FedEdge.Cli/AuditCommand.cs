using System.CommandLine;
using System.CommandLine.Invocation;
using FedEdge.Audit;
using FedEdge.Checkpoints;

namespace FedEdge.Cli;

/// <summary><c>fededge audit verify</c>: check a round audit log's hash chain and, against a checkpoint, that it was neither truncated nor rewritten.</summary>
internal static class AuditCommand
{
    public static Command Create()
    {
        Command audit = new("audit", "Round audit logs (audit.log): verify the hash chain and, against a checkpoint, truncation and rewriting.");
        audit.Subcommands.Add(CreateVerify());
        audit.SetAction(parse =>
        {
            parse.InvocationConfiguration.Error.WriteLine("fededge audit: name a subcommand, e.g. fededge audit verify --log FILE [--checkpoint DIR].");
            return 2;
        });
        return audit;
    }

    private static Command CreateVerify()
    {
        Option<string?> log = new("--log") { Description = "The audit log (one hash-chained JSON line per round).", HelpName = "FILE" };
        Option<string?> checkpoint = new("--checkpoint") { Description = "A checkpoint folder (checkpoint.json): the log must still hold the entries and head hash it recorded.", HelpName = "DIR" };
        Command command = new("verify", "Verify an audit log. Exit 0 intact, 1 tampered, 2 bad arguments or unreadable files.") { log, checkpoint };
        command.Action = new VerifyAction(log, checkpoint);
        return command;
    }

    /// <summary>
    /// The verify action. It clears System.CommandLine's parse errors so that bad arguments end as one line and
    /// exit code 2, like unreadable files, rather than the parser's usage text and exit code 1 (which means tampered here).
    /// </summary>
    private sealed class VerifyAction(Option<string?> log, Option<string?> checkpoint) : AsynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override async Task<int> InvokeAsync(ParseResult parseResult, CancellationToken cancellationToken = default)
        {
            TextWriter output = parseResult.InvocationConfiguration.Output;
            TextWriter error = parseResult.InvocationConfiguration.Error;
            (int exit, string line) = await VerifyAsync(parseResult, cancellationToken).ConfigureAwait(false);
            await (exit == 2 ? error : output).WriteLineAsync(line).ConfigureAwait(false);
            return exit;
        }

        private async Task<(int Exit, string Line)> VerifyAsync(ParseResult parse, CancellationToken cancellationToken)
        {
            const string Usage = "fededge audit verify: ";
            if (parse.Errors.Count > 0)
            {
                return (2, Usage + parse.Errors[0].Message + " Usage: fededge audit verify --log FILE [--checkpoint DIR].");
            }

            if (parse.UnmatchedTokens.Count > 0)
            {
                return (2, Usage + $"unexpected argument '{parse.UnmatchedTokens[0]}'. Usage: fededge audit verify --log FILE [--checkpoint DIR].");
            }

            string? logPath = parse.GetValue(log);
            if (string.IsNullOrWhiteSpace(logPath))
            {
                return (2, Usage + "--log FILE is required.");
            }

            if (!File.Exists(logPath))
            {
                return (2, Usage + $"the audit log '{logPath}' was not found.");
            }

            try
            {
                AuditLogHead? anchor = null;
                if (parse.GetValue(checkpoint) is { } dir)
                {
                    if (string.IsNullOrWhiteSpace(dir) || !Directory.Exists(dir))
                    {
                        return (2, Usage + $"the checkpoint folder '{dir}' was not found.");
                    }

                    CoordinatorCheckpoint? saved = await new FileCheckpointStore(dir).LoadAsync(cancellationToken).ConfigureAwait(false);
                    if (saved is null)
                    {
                        return (2, Usage + $"the folder '{dir}' holds no checkpoint.json.");
                    }

                    anchor = saved.AuditLog;
                    if (anchor is null)
                    {
                        return (2, Usage + $"the checkpoint in '{dir}' (round {saved.Round}) records no audit log head; it was written without an audit log or by an older version.");
                    }
                }

                AuditVerification result = FileAuditLog.Verify(logPath, anchor);
                return result.IsValid
                    ? (0, $"audit log OK: {result.Entries} entries, head {result.Head.HeadHash}")
                    : (1, "audit log TAMPERED: " + (result.Failure == AuditFailure.BrokenChain ? $"line {result.BrokenLine}: {result.Problem}" : result.Problem));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CheckpointException)
            {
                return (2, Usage + ex.Message.ReplaceLineEndings(" "));
            }
        }
    }
}
