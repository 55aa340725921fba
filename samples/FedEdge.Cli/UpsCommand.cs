using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using FedEdge.Mud.PolicyServer;

namespace FedEdge.Cli;

/// <summary>
/// <c>fededge ups approve | revoke | list</c>: the User Policy Server's administrator approvals of weakly sourced MUD
/// URLs, kept in DIR/user-policy.json (mode 0600, replaced atomically). <c>fededge coordinator --user-policy DIR</c>
/// reads the folder at every join, so an approval or a revocation applies to the next join without a restart.
/// </summary>
internal static class UpsCommand
{
    /// <summary>The store's file name inside its folder.</summary>
    public const string StoreFileName = "user-policy.json";

    private const int Usage = CliErrors.Usage;
    private const int MaxAdminLength = 64;

    public static Command Create()
    {
        Command ups = new("ups", "The User Policy Server: approve a weakly sourced MUD URL for one device (a URL the device asserts itself rather than carries in its certificate), revoke or list approvals.");
        ups.Subcommands.Add(CreateApprove());
        ups.Subcommands.Add(CreateRevoke());
        ups.Subcommands.Add(CreateList());
        ups.SetAction(parse =>
        {
            parse.InvocationConfiguration.Error.WriteLine("fededge ups: name a subcommand: approve, revoke or list (see fededge ups --help).");
            return Usage;
        });
        return ups;
    }

    /// <summary>The store file of a User Policy Server folder.</summary>
    public static string StorePath(DirectoryInfo dir) => Path.Combine(dir.FullName, StoreFileName);

    private static Option<DirectoryInfo> DirOption() => new("--dir", "--store") { Description = $"The User Policy Server folder (its approvals are in DIR/{StoreFileName}); give the same folder to `fededge coordinator --user-policy`.", DefaultValueFactory = _ => new DirectoryInfo("ups"), HelpName = "DIR" };

    private static Option<string> AdminOption() => new("--admin") { Description = "The administrator who owns the approval; each administrator revokes only their own.", DefaultValueFactory = _ => "admin", HelpName = "NAME" };

    private static Option<string?> DeviceOption() => new("--device") { Description = "The device id its certificate names (fededge pki issue --device ID): the approval admits only the device that proves this id.", HelpName = "ID" };

    private static Option<string?> MacOption() => new("--mac") { Description = "Instead of --device: the device's MAC address (reported by the device itself, so weaker than --device).", HelpName = "MAC" };

    private static Option<string> UrlOption() => new("--mud-url") { Description = "The MUD URL the device presents (https, at most 2048 characters).", Required = true, HelpName = "URL" };

    private static Command CreateApprove()
    {
        Option<DirectoryInfo> dir = DirOption();
        Option<string> admin = AdminOption();
        Option<string?> device = DeviceOption();
        Option<string?> mac = MacOption();
        Option<string> url = UrlOption();
        Command command = new("approve", "Approve a weakly sourced MUD URL for one device: with certificates configured, a coordinator started with --user-policy DIR then admits that device (and no other) on that URL.") { dir, admin, device, mac, url };
        command.SetAction((parse, cancellationToken) => RunAsync(parse, "approve", async () =>
        {
            if (Target(parse.GetValue(device), parse.GetValue(mac), parse.GetValue(admin)!, parse.GetValue(url)!, out string? mudUrl) is { } problem)
            {
                return (Usage, problem);
            }

            string store = StorePath(parse.GetValue(dir)!);
            IReadOnlyList<UserPolicyEntry> all = await UserPolicyStores.File(store).LoadAsync(cancellationToken).ConfigureAwait(false);
            if (all.FirstOrDefault(e => Matches(e, parse.GetValue(admin)!, parse.GetValue(device), parse.GetValue(mac), mudUrl!)) is { } existing)
            {
                return (0, $"already approved: {Describe(existing)} in {store}");
            }

            var entry = new UserPolicyEntry { DeviceId = parse.GetValue(device), Mac = parse.GetValue(mac), MudUrl = mudUrl, ApproveWeakMudUrl = true };
            UserPolicyResult added = await new UserPolicyServer(UserPolicyStores.File(store)).AddAsync(parse.GetValue(admin)!, entry, cancellationToken).ConfigureAwait(false);
            return added.Succeeded
                ? (0, $"approved: {Describe(added.Entry!)} in {store} (mode 0600)")
                : (Usage, added.Error!);
        }));
        return command;
    }

    private static Command CreateRevoke()
    {
        Option<DirectoryInfo> dir = DirOption();
        Option<string> admin = AdminOption();
        Option<string?> device = DeviceOption();
        Option<string?> mac = MacOption();
        Option<string> url = UrlOption();
        Command command = new("revoke", "Revoke an approval: the device's next join on that weakly sourced MUD URL is refused again.") { dir, admin, device, mac, url };
        command.SetAction((parse, cancellationToken) => RunAsync(parse, "revoke", async () =>
        {
            if (Target(parse.GetValue(device), parse.GetValue(mac), parse.GetValue(admin)!, parse.GetValue(url)!, out string? mudUrl) is { } problem)
            {
                return (Usage, problem);
            }

            string store = StorePath(parse.GetValue(dir)!);
            string owner = parse.GetValue(admin)!;
            var server = new UserPolicyServer(UserPolicyStores.File(store));
            List<UserPolicyEntry> matching = [.. (await server.ListAsync(owner, cancellationToken).ConfigureAwait(false)).Where(e => Matches(e, owner, parse.GetValue(device), parse.GetValue(mac), mudUrl!))];
            if (matching.Count == 0)
            {
                return (CliErrors.Runtime, $"no approval of '{mudUrl}' for {Who(parse.GetValue(device), parse.GetValue(mac))} owned by '{owner}' in {store}.");
            }

            foreach (UserPolicyEntry e in matching)
            {
                UserPolicyResult deleted = await server.DeleteAsync(owner, e.Id, cancellationToken).ConfigureAwait(false);
                if (!deleted.Succeeded)
                {
                    return (CliErrors.Runtime, deleted.Error!);
                }
            }

            return (0, $"revoked: {string.Join("; ", matching.Select(Describe))} in {store}");
        }));
        return command;
    }

    private static Command CreateList()
    {
        Option<DirectoryInfo> dir = DirOption();
        Option<bool> json = new("--json") { Description = "Write the approvals as a JSON array (id, owner, device, mac, mud_url)." };
        Command command = new("list", "List every administrator's approvals of weakly sourced MUD URLs.") { dir, json };
        command.SetAction((parse, cancellationToken) => RunAsync(parse, "list", async () =>
        {
            string store = StorePath(parse.GetValue(dir)!);
            List<UserPolicyEntry> approvals = [.. (await UserPolicyStores.File(store).LoadAsync(cancellationToken).ConfigureAwait(false)).Where(e => e.ApproveWeakMudUrl)];
            if (parse.GetValue(json))
            {
                var array = new JsonArray([.. approvals.Select(e => (JsonNode)new JsonObject { ["id"] = e.Id, ["owner"] = e.Owner, ["device"] = e.DeviceId, ["mac"] = e.Mac, ["mud_url"] = e.MudUrl })]);
                return (0, array.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            }

            return approvals.Count == 0
                ? (0, $"no approvals in {store}")
                : (0, string.Join(Environment.NewLine, approvals.Select(Describe)));
        }));
        return command;
    }

    /// <summary>Why the device, administrator or URL cannot be used, or null; <paramref name="mudUrl"/> is the URL in the form admission compares.</summary>
    private static string? Target(string? device, string? mac, string admin, string url, out string? mudUrl)
    {
        mudUrl = null;
        if ((device is null) == (mac is null))
        {
            return "give exactly one of --device ID or --mac MAC.";
        }

        if (device is not null && !FedEdge.Security.FederationPki.IsValidDeviceId(device))
        {
            return $"--device is not a valid device id (1 to {FedEdge.Security.FederationPki.MaxDeviceIdLength} characters, no control characters, none of / + # , =).";
        }

        if (mac is not null && (mac.Length is 0 or > 64 || mac.Any(c => char.IsControl(c) || char.IsWhiteSpace(c))))
        {
            return "--mac must be 1 to 64 characters without spaces or control characters.";
        }

        if (admin.Length is 0 or > MaxAdminLength || admin.Any(char.IsControl) || string.IsNullOrWhiteSpace(admin))
        {
            return $"--admin must be 1 to {MaxAdminLength} characters without control characters.";
        }

        // Checked on the text as given: Uri would silently drop some control characters and whitespace.
        if (url.Length > 2048 || url.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
        {
            return "--mud-url must be at most 2048 characters, without spaces or control characters.";
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) || uri.Scheme != Uri.UriSchemeHttps || string.IsNullOrEmpty(uri.Host))
        {
            return $"--mud-url '{url}' must be an absolute https URL (RFC 8520), e.g. https://mud.example.com/device.json.";
        }

        mudUrl = uri.AbsoluteUri;
        return null;
    }

    private static bool Matches(UserPolicyEntry e, string owner, string? device, string? mac, string mudUrl)
        => e.ApproveWeakMudUrl && e.Owner == owner && e.MudUrl == mudUrl
           && (device is not null ? e.DeviceId == device : e.Mac is not null && string.Equals(e.Mac.Replace('-', ':'), mac!.Replace('-', ':'), StringComparison.OrdinalIgnoreCase));

    private static string Who(string? device, string? mac) => device is not null ? $"device '{device}'" : $"MAC {mac}";

    private static string Describe(UserPolicyEntry e)
        => string.Create(CultureInfo.InvariantCulture, $"{e.MudUrl} for {Who(e.DeviceId, e.Mac)} by '{e.Owner}' (entry {e.Id})");

    private static async Task<int> RunAsync(ParseResult parse, string name, Func<Task<(int Exit, string Line)>> body)
    {
        (int exit, string line) result;
        try
        {
            result = await body().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            result = (CliErrors.Runtime, ex.Message);
        }

        if (result.exit == 0)
        {
            await parse.InvocationConfiguration.Output.WriteLineAsync(result.line).ConfigureAwait(false);
        }
        else
        {
            await parse.InvocationConfiguration.Error.WriteLineAsync($"fededge ups {name}: {result.line}").ConfigureAwait(false);
        }

        return result.exit;
    }
}
