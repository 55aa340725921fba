using System.Text.Json;
using System.Text.Json.Serialization;

namespace FedEdge.Mud.PolicyServer;

/// <summary>One administrator rule for a device (from the device's point of view).</summary>
public sealed record UserPolicyRule
{
    /// <summary>from-device or to-device.</summary>
    public MudDirection Direction { get; init; }

    /// <summary>accept, drop or reject.</summary>
    public MudForwarding Action { get; init; }

    /// <summary>Remote DNS name, or null.</summary>
    public string? RemoteHost { get; init; }

    /// <summary>Remote addresses or prefixes (empty with no host = any).</summary>
    public IReadOnlyList<string> RemoteAddresses { get; init; } = [];

    /// <summary>IP protocol (6 tcp, 17 udp), or null for any.</summary>
    public int? Protocol { get; init; }

    /// <summary>Remote port (eq), or null for any.</summary>
    public int? RemotePort { get; init; }

    /// <summary>Free text shown in reports and firewall comments.</summary>
    public string? Comment { get; init; }
}

/// <summary>
/// An administrator's entry in the User Policy Server: overlay rules for one device (selected by MAC address, by the
/// device id its verified certificate names, or by MUD URL) and, optionally, the administrator's own MUD file for a
/// device that has none (CoLearn).
/// </summary>
public sealed record UserPolicyEntry
{
    /// <summary>Entry id (assigned by the server when empty).</summary>
    public string Id { get; init; } = string.Empty;

    /// <summary>The administrator who owns the entry (set by the server).</summary>
    public string Owner { get; init; } = string.Empty;

    /// <summary>The device's MAC address, when the entry targets one device.</summary>
    public string? Mac { get; init; }

    /// <summary>
    /// The device id a verified device certificate names (SAN <c>urn:fededge:device:ID</c>), when the entry targets one
    /// enrolled device. Unlike <see cref="Mac"/>, which the device reports itself, this id is only matched against
    /// <see cref="FedEdge.Admission.AdmissionRequest.AuthenticatedDeviceId"/>: the id the coordinator verified.
    /// </summary>
    public string? DeviceId { get; init; }

    /// <summary>The MUD URL, when the entry targets every device of a model.</summary>
    public string? MudUrl { get; init; }

    /// <summary>Overlay rules.</summary>
    public IReadOnlyList<UserPolicyRule> Rules { get; init; } = [];

    /// <summary>The administrator's own MUD file (JSON text) for a device without one.</summary>
    public string? MudFileJson { get; init; }

    /// <summary>
    /// The administrator approves <see cref="MudUrl"/> for the device with <see cref="DeviceId"/> (or <see cref="Mac"/>)
    /// even when it comes from a weak source (DHCP, LLDP, the join request) rather than the device certificate
    /// (<see cref="Admission.MudAdmissionOptions.RequireCertificateMudUrl"/>). The URL and one of the two must be set;
    /// the approval admits that device with that URL only.
    /// </summary>
    public bool ApproveWeakMudUrl { get; init; }

    /// <summary>True when the entry applies to a device with the given MAC and MUD URL.</summary>
    public bool AppliesTo(string? mac, string? mudUrl)
        => (Mac is not null && mac is not null && string.Equals(NormalizeMac(Mac), NormalizeMac(mac), StringComparison.Ordinal))
           || (MudUrl is not null && mudUrl is not null && string.Equals(MudUrl, mudUrl, StringComparison.Ordinal));

    internal static string NormalizeMac(string mac) => mac.Replace('-', ':').ToLowerInvariant();
}

/// <summary>The storage port of the User Policy Server.</summary>
public interface IUserPolicyStore
{
    /// <summary>Every entry.</summary>
    ValueTask<IReadOnlyList<UserPolicyEntry>> LoadAsync(CancellationToken cancellationToken = default);

    /// <summary>Replaces every entry atomically.</summary>
    ValueTask SaveAsync(IReadOnlyList<UserPolicyEntry> entries, CancellationToken cancellationToken = default);
}

/// <summary>Factories for the built-in stores.</summary>
public static class UserPolicyStores
{
    /// <summary>A JSON file store (the default): written to a temporary file and renamed, so a crash never leaves half a file.</summary>
    public static IUserPolicyStore File(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        return new FileUserPolicyStore(path);
    }
}

internal sealed class FileUserPolicyStore(string path) : IUserPolicyStore
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public async ValueTask<IReadOnlyList<UserPolicyEntry>> LoadAsync(CancellationToken cancellationToken = default)
    {
        if (!System.IO.File.Exists(path))
        {
            return [];
        }

        FileStream stream = System.IO.File.OpenRead(path);
        await using (stream.ConfigureAwait(false))
        {
            try
            {
                return await JsonSerializer.DeserializeAsync<List<UserPolicyEntry>>(stream, Json, cancellationToken).ConfigureAwait(false) ?? [];
            }
            catch (JsonException ex)
            {
                throw new InvalidDataException($"The user policy store '{path}' is corrupt: {ex.Message}", ex);
            }
        }
    }

    public async ValueTask SaveAsync(IReadOnlyList<UserPolicyEntry> entries, CancellationToken cancellationToken = default)
    {
        // A fresh temporary name per write (two writers never share one), created with mode 0600 on Unix (the store
        // says which devices may join), flushed to disk, then renamed over the store: readers see the old file or the
        // new one, never half of one.
        string full = Path.GetFullPath(path);
        string? dir = Path.GetDirectoryName(full);
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }

        string tmp = $"{full}.{Guid.NewGuid():N}.tmp";
        var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        try
        {
            FileStream stream = new(tmp, create);
            await using (stream.ConfigureAwait(false))
            {
                await JsonSerializer.SerializeAsync(stream, entries, Json, cancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }

            System.IO.File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            System.IO.File.Delete(tmp);
        }
    }
}
