using FedEdge.Mud.Compilation;

namespace FedEdge.Mud.PolicyServer;

/// <summary>What the merge did with one rule.</summary>
public enum MergeAction
{
    /// <summary>A later rule with the opposite action was fully covered by an earlier one and removed.</summary>
    Overridden,

    /// <summary>A later rule with the same action was fully covered by an earlier one and removed.</summary>
    Redundant,
}

/// <summary>One merge decision, for the administrator's report.</summary>
/// <param name="Action">What happened.</param>
/// <param name="Removed">The rule removed (its source names manufacturer ACE or administrator entry).</param>
/// <param name="By">The rule that wins.</param>
/// <param name="Explanation">A sentence naming the precedence rule applied.</param>
public sealed record MergeReport(MergeAction Action, CompiledRule Removed, CompiledRule By, string Explanation);

/// <summary>The merged policy of a device and what the merge changed.</summary>
/// <param name="Policy">The compiled policy (administrator rules, then manufacturer rules, then DNS/NTP and deny).</param>
/// <param name="Reports">Every override and removal.</param>
/// <param name="UsedAdministratorMudFile">True when the device had no manufacturer MUD file and an administrator's was used.</param>
public sealed record MergedPolicy(CompiledPolicy Policy, IReadOnlyList<MergeReport> Reports, bool UsedAdministratorMudFile);

/// <summary>The outcome of an administrator operation.</summary>
/// <param name="Succeeded">Whether it was applied.</param>
/// <param name="Error">Why not.</param>
/// <param name="Entry">The stored entry.</param>
public sealed record UserPolicyResult(bool Succeeded, string? Error = null, UserPolicyEntry? Entry = null);

/// <summary>
/// The User Policy Server (CoLearn): administrators add overlay rules or their own MUD file for a device (by MAC or
/// MUD URL); each sees and changes only their own entries. Precedence when merging, first match wins:
/// (1) administrator drop/reject, (2) administrator accept, (3) manufacturer rules in file order, (4) DNS/NTP,
/// (5) default deny. So an administrator drop beats both an administrator accept and a manufacturer accept, and an
/// administrator accept beats a manufacturer drop. A rule fully covered by an earlier one is removed and reported
/// (overridden when the actions differ, redundant when they agree).
/// </summary>
public sealed class UserPolicyServer
{
    private readonly IUserPolicyStore _store;
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>Creates a server over a store.</summary>
    public UserPolicyServer(IUserPolicyStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
    }

    /// <summary>The administrator's own entries only.</summary>
    public async ValueTask<IReadOnlyList<UserPolicyEntry>> ListAsync(string adminId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(adminId);
        IReadOnlyList<UserPolicyEntry> all = await _store.LoadAsync(cancellationToken).ConfigureAwait(false);
        return all.Where(e => e.Owner == adminId).ToList();
    }

    /// <summary>Adds an entry owned by <paramref name="adminId"/>.</summary>
    public async ValueTask<UserPolicyResult> AddAsync(string adminId, UserPolicyEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(adminId);
        ArgumentNullException.ThrowIfNull(entry);
        string? problem = Check(entry);
        if (problem is not null)
        {
            return new UserPolicyResult(false, problem);
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var all = (await _store.LoadAsync(cancellationToken).ConfigureAwait(false)).ToList();
            UserPolicyEntry stored = entry with { Id = Guid.NewGuid().ToString("N"), Owner = adminId };
            all.Add(stored);
            await _store.SaveAsync(all, cancellationToken).ConfigureAwait(false);
            return new UserPolicyResult(true, null, stored);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Replaces an entry; only its owner may.</summary>
    public async ValueTask<UserPolicyResult> UpdateAsync(string adminId, UserPolicyEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(adminId);
        ArgumentNullException.ThrowIfNull(entry);
        string? problem = Check(entry);
        if (problem is not null)
        {
            return new UserPolicyResult(false, problem);
        }

        return await MutateAsync(adminId, entry.Id, (all, i) => all[i] = entry with { Owner = adminId }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Deletes an entry; only its owner may.</summary>
    public ValueTask<UserPolicyResult> DeleteAsync(string adminId, string entryId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(adminId);
        return MutateAsync(adminId, entryId, (all, i) => all.RemoveAt(i), cancellationToken);
    }

    private async ValueTask<UserPolicyResult> MutateAsync(string adminId, string entryId, Action<List<UserPolicyEntry>, int> change, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var all = (await _store.LoadAsync(cancellationToken).ConfigureAwait(false)).ToList();
            int i = all.FindIndex(e => e.Id == entryId);
            if (i < 0 || all[i].Owner != adminId)
            {
                // Another administrator's entry is reported exactly like a missing one: nothing leaks.
                return new UserPolicyResult(false, $"No entry '{entryId}' owned by '{adminId}'.");
            }

            UserPolicyEntry before = all[i];
            change(all, i);
            await _store.SaveAsync(all, cancellationToken).ConfigureAwait(false);
            return new UserPolicyResult(true, null, i < all.Count && all[i].Id == entryId ? all[i] : before);
        }
        finally
        {
            _gate.Release();
        }
    }

    private static string? Check(UserPolicyEntry entry)
    {
        if (entry.Mac is null && entry.MudUrl is null && entry.DeviceId is null)
        {
            return "An entry must select a device by MAC address, device id or MUD URL.";
        }

        if (entry.DeviceId is not null && !FedEdge.Security.FederationPki.IsValidDeviceId(entry.DeviceId))
        {
            return $"The device id is not valid (1 to {FedEdge.Security.FederationPki.MaxDeviceIdLength} characters, no control characters, none of / + # , =).";
        }

        if (entry.Mac is not null && (entry.Mac.Length is 0 or > MaxMacLength || MudParser.HasControl(entry.Mac, allowWhitespace: false)))
        {
            return $"The MAC address is not valid (1 to {MaxMacLength} characters, no control characters).";
        }

        if (entry.MudUrl is not null && !MudParser.IsHttpsUrl(entry.MudUrl, out string why))
        {
            // IsHttpsUrl also refuses control characters, spaces and URLs over 2048 characters.
            return $"The MUD URL {why} (an https URL of at most 2048 characters is required, RFC 8520).";
        }

        if (entry.ApproveWeakMudUrl && ((entry.Mac is null && entry.DeviceId is null) || entry.MudUrl is null))
        {
            return "An approval of a weakly sourced MUD URL must name the device (its device id or MAC address) and the MUD URL.";
        }

        if (entry.MudFileJson is not null)
        {
            MudParseResult r = MudParser.Parse(entry.MudFileJson);
            if (!r.IsValid)
            {
                return "The administrator's MUD file is not valid: " + r.Errors.First();
            }
        }

        return entry.Rules.Any(r => r.RemotePort is < 0 or > 65535 || r.Protocol is < 0 or > 255) ? "A rule has an out-of-range port or protocol." : null;
    }

    /// <summary>The longest MAC address text an entry may hold.</summary>
    private const int MaxMacLength = 64;

    /// <summary>
    /// True when an administrator approved <paramref name="mudUrl"/> from a weak source for the device with
    /// <paramref name="mac"/>: an entry names both, with <see cref="UserPolicyEntry.ApproveWeakMudUrl"/>.
    /// </summary>
    public async ValueTask<bool> ApprovesWeakMudUrlAsync(string? mac, string mudUrl, CancellationToken cancellationToken = default)
        => await FindWeakMudUrlApprovalAsync(null, mac, mudUrl, cancellationToken).ConfigureAwait(false) is not null;

    /// <summary>
    /// The administrator's approval of <paramref name="mudUrl"/> from a weak source for this device, or null: an entry
    /// with <see cref="UserPolicyEntry.ApproveWeakMudUrl"/> that names the URL and either the device id
    /// (<paramref name="authenticatedDeviceId"/>, which must come from a verified certificate) or the MAC address. An
    /// approval for one device never admits another with the same URL.
    /// </summary>
    /// <param name="authenticatedDeviceId">The device id its verified certificate names, or null.</param>
    /// <param name="mac">The device's MAC address, or null.</param>
    /// <param name="mudUrl">The weakly sourced MUD URL.</param>
    /// <param name="cancellationToken">Cancellation.</param>
    public async ValueTask<UserPolicyEntry?> FindWeakMudUrlApprovalAsync(string? authenticatedDeviceId, string? mac, string mudUrl, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mudUrl);
        if (authenticatedDeviceId is null && mac is null)
        {
            return null;
        }

        IReadOnlyList<UserPolicyEntry> entries = await _store.LoadAsync(cancellationToken).ConfigureAwait(false);
        return entries.FirstOrDefault(e => e.ApproveWeakMudUrl && e.MudUrl is not null
            && string.Equals(e.MudUrl, mudUrl, StringComparison.Ordinal)
            && ((e.DeviceId is not null && authenticatedDeviceId is not null && string.Equals(e.DeviceId, authenticatedDeviceId, StringComparison.Ordinal))
                || (e.Mac is not null && mac is not null && string.Equals(UserPolicyEntry.NormalizeMac(e.Mac), UserPolicyEntry.NormalizeMac(mac), StringComparison.Ordinal))));
    }

    /// <summary>Merges the manufacturer's MUD file (or an administrator's, for a device without one) with every administrator overlay for the device.</summary>
    /// <param name="device">The device (its MAC selects entries).</param>
    /// <param name="mudUrl">The device's MUD URL, if any (selects entries).</param>
    /// <param name="manufacturerFile">The manufacturer's valid MUD file, or null for a non-MUD device.</param>
    /// <param name="mappings">Abstraction mappings.</param>
    /// <param name="cancellationToken">Cancellation.</param>
    public async ValueTask<MergedPolicy?> ResolveAsync(MudDeviceBinding device, string? mudUrl, MudFile? manufacturerFile, MudAbstractionMappings? mappings = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(device);
        mappings ??= new MudAbstractionMappings();
        IReadOnlyList<UserPolicyEntry> entries = (await _store.LoadAsync(cancellationToken).ConfigureAwait(false))
            .Where(e => e.DeviceId is null ? e.AppliesTo(device.Mac, mudUrl) : string.Equals(e.DeviceId, device.Name, StringComparison.Ordinal))
            .ToList();
        bool adminFile = false;
        MudFile? file = manufacturerFile;
        if (file is null)
        {
            string? json = entries.Select(e => e.MudFileJson).FirstOrDefault(j => j is not null);
            if (json is not null)
            {
                file = MudParser.Parse(json).File;
                adminFile = file is not null;
            }
        }

        if (file is null && entries.Count == 0)
        {
            return null;
        }

        var admin = entries.SelectMany(e => e.Rules.Select(r => ToRule(e, r))).ToList();
        var ordered = admin.Where(r => r.Action != MudForwarding.Accept).Concat(admin.Where(r => r.Action == MudForwarding.Accept)).ToList();
        CompiledPolicy mfr = file is null
            ? new CompiledPolicy { Device = device, MudUrl = mudUrl ?? string.Empty, Rules = MudRuleCompiler.Defaults(mappings).ToList() }
            : MudRuleCompiler.Compile(file, device, mappings);
        var explicitMfr = mfr.Rules.Where(r => r.Origin == MudRuleOrigin.Explicit).ToList();

        var kept = new List<CompiledRule>();
        var reports = new List<MergeReport>();
        foreach (CompiledRule rule in ordered.Concat(explicitMfr))
        {
            CompiledRule? cover = kept.FirstOrDefault(k => Covers(k, rule));
            if (cover is null)
            {
                kept.Add(rule);
                continue;
            }

            bool same = cover.Action == rule.Action;
            string why = (cover.Source.StartsWith("admin:", StringComparison.Ordinal), rule.Source.StartsWith("admin:", StringComparison.Ordinal)) switch
            {
                (true, false) when !same => $"administrator {cover.Action.ToString().ToLowerInvariant()} beats manufacturer {rule.Action.ToString().ToLowerInvariant()}",
                (true, true) when !same => "administrator drop beats administrator accept",
                (false, false) when !same => "earlier manufacturer rule wins (first match)",
                _ => "fully covered by an earlier rule with the same action",
            };
            reports.Add(new MergeReport(same ? MergeAction.Redundant : MergeAction.Overridden, rule, cover, $"{rule.Source} removed: {why} ({cover.Source})."));
        }

        kept.AddRange(MudRuleCompiler.Defaults(mappings));
        return new MergedPolicy(mfr with { Rules = kept }, reports, adminFile);
    }

    private static CompiledRule ToRule(UserPolicyEntry e, UserPolicyRule r) => new()
    {
        Direction = r.Direction,
        Origin = MudRuleOrigin.Explicit,
        Protocol = r.Protocol,
        RemoteHost = r.RemoteHost,
        RemoteAddresses = r.RemoteAddresses,
        RemotePort = r.RemotePort is { } p ? new MudPortRange("eq", p) : null,
        Action = r.Action,
        Source = $"admin:{e.Owner}/{e.Id}{(r.Comment is null ? string.Empty : " " + r.Comment)}",
    };

    /// <summary>True when every packet <paramref name="b"/> matches is also matched by <paramref name="a"/>.</summary>
    internal static bool Covers(CompiledRule a, CompiledRule b)
    {
        if (a.Direction != b.Direction)
        {
            return false;
        }

        bool anyRemote = a.RemoteHost is null && a.RemoteAddresses.Count == 0;
        bool sameRemote = string.Equals(a.RemoteHost, b.RemoteHost, StringComparison.OrdinalIgnoreCase) && a.RemoteAddresses.ToHashSet(StringComparer.Ordinal).IsSupersetOf(b.RemoteAddresses)
                          && (a.RemoteAddresses.Count > 0 || b.RemoteAddresses.Count == 0);
        return (anyRemote || sameRemote)
               && (a.Protocol is null || a.Protocol == b.Protocol)
               && (a.Family == 0 || a.Family == b.Family)
               && (a.RemotePort is null || a.RemotePort == b.RemotePort)
               && (a.DevicePort is null || a.DevicePort == b.DevicePort)
               && (a.IcmpType is null || a.IcmpType == b.IcmpType)
               && (a.IcmpCode is null || a.IcmpCode == b.IcmpCode)
               && (a.State == MudConnectionState.Any || a.State == b.State);
    }
}
