using System.CommandLine;
using System.Text;
using System.Text.RegularExpressions;

namespace FedEdge.Cli;

/// <summary>
/// <c>fededge deploy check FILE...</c>: finds every <c>fededge</c> command line in systemd units (<c>ExecStart=</c>) and
/// Kubernetes manifests (a container's <c>command:</c> and <c>args:</c> lists) and parses it with this CLI's own parser,
/// so a unit or manifest that names an option the CLI does not have (or lacks a required one) fails before it is deployed.
/// Values are not checked (files named in them exist only on the target), only the command and its options.
/// </summary>
internal static partial class DeployCommand
{
    public static Command Create()
    {
        Argument<FileInfo[]> files = new("files") { Description = "systemd units (*.service) and Kubernetes manifests (*.yaml, *.yml).", Arity = ArgumentArity.OneOrMore };
        Command check = new("check", "Parse every fededge command line in systemd units and Kubernetes manifests with this CLI's parser; exit 1 on an unknown option.");
        check.Arguments.Add(files);
        check.SetAction(async (parse, cancellationToken) =>
        {
            TextWriter stdout = parse.InvocationConfiguration.Output;
            TextWriter err = parse.InvocationConfiguration.Error;
            int lines = 0, problems = 0;
            foreach (FileInfo file in parse.GetValue(files) ?? [])
            {
                if (CliOptionValidation.FileProblem(file.FullName) is string unreadable)
                {
                    await err.WriteLineAsync($"fededge deploy check: '{file.FullName}' {unreadable}.").ConfigureAwait(false);
                    return 2;
                }

                string text = await File.ReadAllTextAsync(file.FullName, cancellationToken).ConfigureAwait(false);
                bool unit = file.Extension.Equals(".service", StringComparison.OrdinalIgnoreCase);
                foreach ((int line, IReadOnlyList<string> args) in unit ? FromUnit(text) : FromManifest(text))
                {
                    lines++;
                    string where = $"{file.Name}:{line}";
                    string? problem = Check(args);
                    if (problem is null)
                    {
                        await stdout.WriteLineAsync($"ok   {where}: fededge {args.FirstOrDefault()} ({args.Count(a => a.StartsWith("--", StringComparison.Ordinal))} options)").ConfigureAwait(false);
                    }
                    else
                    {
                        problems++;
                        await stdout.WriteLineAsync($"FAIL {where}: {problem}").ConfigureAwait(false);
                    }
                }
            }

            await stdout.WriteLineAsync($"{lines} fededge command lines, {problems} with problems").ConfigureAwait(false);
            return problems == 0 && lines > 0 ? 0 : 1;
        });

        Command deploy = new("deploy", "Check deployment files (systemd units, Kubernetes manifests) against this CLI.");
        deploy.Subcommands.Add(check);
        return deploy;
    }

    /// <summary>Why <paramref name="args"/> is not a valid fededge command line (unknown command or option, missing required option), or null.</summary>
    internal static string? Check(IReadOnlyList<string> args)
    {
        if (args.Count == 0)
        {
            return "no command after fededge";
        }

        RootCommand root = new();
        foreach (Command command in CliCommands.All())
        {
            root.Subcommands.Add(command);
        }

        ParseResult parse = root.Parse([.. args]);
        if (parse.CommandResult.Command == root)
        {
            return $"'{args[0]}' is not a fededge command";
        }

        var issues = new List<string>();
        issues.AddRange(parse.UnmatchedTokens.Select(t => $"unknown option or argument '{t}'"));
        issues.AddRange(parse.Errors.Select(e => e.Message).Where(m => m.StartsWith("Unrecognized", StringComparison.Ordinal) || m.StartsWith("Required", StringComparison.Ordinal) || m.Contains("is required", StringComparison.Ordinal) || m.Contains("unknown", StringComparison.OrdinalIgnoreCase)));
        return issues.Count == 0 ? null : $"fededge {string.Join(' ', args.Take(1))}: {string.Join("; ", issues.Distinct(StringComparer.Ordinal))}";
    }

    /// <summary>The fededge command lines of a systemd unit: <c>ExecStart=</c> (and Pre/Post) lines whose program is fededge.</summary>
    internal static IEnumerable<(int Line, IReadOnlyList<string> Args)> FromUnit(string text)
    {
        string[] lines = text.ReplaceLineEndings("\n").Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            Match exec = ExecLine().Match(lines[i]);
            if (!exec.Success)
            {
                continue;
            }

            var value = new StringBuilder(exec.Groups["value"].Value);
            int first = i;
            while (value.Length > 0 && value[^1] == '\\' && i + 1 < lines.Length)
            {
                value.Length--;
                value.Append(' ').Append(lines[++i]);
            }

            IReadOnlyList<string> words = SplitWords(value.ToString().TrimStart('-', '@', ':', '+', '!'));
            int program = IndexOfFededge(words);
            if (program >= 0)
            {
                yield return (first + 1, [.. words.Skip(program + 1)]);
            }
        }
    }

    /// <summary>
    /// The fededge command lines of Kubernetes manifests: a container's <c>command:</c> list whose last item is the fededge
    /// program, followed by its <c>args:</c> list (block lists of one item per line, or flow lists on one line).
    /// </summary>
    internal static IEnumerable<(int Line, IReadOnlyList<string> Args)> FromManifest(string text)
    {
        string[] lines = text.ReplaceLineEndings("\n").Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            Match key = ListKey().Match(lines[i]);
            if (!key.Success || key.Groups["key"].Value != "command")
            {
                continue;
            }

            int commandLine = i;
            List<string> command = ReadList(lines, ref i, key);
            int program = IndexOfFededge(command);
            if (program < 0)
            {
                continue;
            }

            var args = new List<string>(command.Skip(program + 1));
            if (i + 1 < lines.Length && ListKey().Match(lines[i + 1]) is { Success: true } next && next.Groups["key"].Value == "args" && next.Groups["indent"].Value == key.Groups["indent"].Value)
            {
                i++;
                args.AddRange(ReadList(lines, ref i, next));
            }

            yield return (commandLine + 1, args);
        }
    }

    private static List<string> ReadList(string[] lines, ref int i, Match key)
    {
        string inline = key.Groups["rest"].Value.Trim();
        if (inline.StartsWith('['))
        {
            return [.. inline.Trim('[', ']').Split(',').Select(Unquote).Where(s => s.Length > 0)];
        }

        var items = new List<string>();
        while (i + 1 < lines.Length && ListItem().Match(lines[i + 1]) is { Success: true } item && item.Groups["indent"].Value.Length >= key.Groups["indent"].Value.Length)
        {
            items.Add(Unquote(item.Groups["value"].Value));
            i++;
        }

        return items;
    }

    private static int IndexOfFededge(IReadOnlyList<string> words)
    {
        for (int i = 0; i < words.Count; i++)
        {
            string name = Path.GetFileName(words[i]);
            if (name is "fededge" or "fededge.dll")
            {
                return i;
            }
        }

        return -1;
    }

    private static string Unquote(string value)
    {
        string v = value.Trim();
        return v.Length >= 2 && ((v[0] == '"' && v[^1] == '"') || (v[0] == '\'' && v[^1] == '\'')) ? v[1..^1] : v;
    }

    /// <summary>Splits a command line into words as systemd does: whitespace separates, single and double quotes group.</summary>
    private static List<string> SplitWords(string line)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        char quote = '\0';
        bool inWord = false;
        foreach (char c in line)
        {
            if (quote != '\0')
            {
                if (c == quote)
                {
                    quote = '\0';
                }
                else
                {
                    current.Append(c);
                }
            }
            else if (c is '"' or '\'')
            {
                quote = c;
                inWord = true;
            }
            else if (char.IsWhiteSpace(c))
            {
                if (inWord)
                {
                    words.Add(current.ToString());
                    current.Clear();
                    inWord = false;
                }
            }
            else
            {
                current.Append(c);
                inWord = true;
            }
        }

        if (inWord)
        {
            words.Add(current.ToString());
        }

        return words;
    }

    [GeneratedRegex(@"^\s*Exec(Start|StartPre|StartPost|Reload|Stop)=(?<value>.*)$")]
    private static partial Regex ExecLine();

    [GeneratedRegex(@"^(?<indent>\s*)(- )?(?<key>command|args):(?<rest>.*)$")]
    private static partial Regex ListKey();

    [GeneratedRegex(@"^(?<indent>\s*)- (?<value>.*)$")]
    private static partial Regex ListItem();
}
