using System.Security.Cryptography.X509Certificates;
using FedEdge.Mud.Compilation;

namespace FedEdge.Mud.Admission;

/// <summary>Options for MUD-based admission into a federation.</summary>
public sealed class MudAdmissionOptions
{
    /// <summary>The coordinator's host name or IP address the device must be allowed to reach.</summary>
    public string CoordinatorHost { get; set; } = string.Empty;

    /// <summary>The coordinator's port.</summary>
    public int CoordinatorPort { get; set; } = 8883;

    /// <summary>The coordinator's IP protocol (6 tcp, 17 udp).</summary>
    public int CoordinatorProtocol { get; set; } = 6;

    /// <summary>A folder of MUD files (and <c>.p7s</c> signatures) used when no <see cref="IMudFileSource"/> is registered.</summary>
    public string? MudDirectory { get; set; }

    /// <summary>Trust anchors for MUD signatures.</summary>
    public IList<X509Certificate2> TrustAnchors { get; } = [];

    /// <summary>A fixed verification time for signatures (null = the clock's now).</summary>
    public DateTimeOffset? VerificationTime { get; set; }

    /// <summary>MUD URLs an administrator approved without a (valid) signature.</summary>
    public ISet<string> ApprovedMudUrls { get; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>
    /// When certificates are configured: refuse a MUD URL that does not come from the device certificate's
    /// id-pe-mud-url extension (a weak source: DHCP, LLDP, the join request) unless an administrator approved it for
    /// the device in the User Policy Server (<see cref="PolicyServer.UserPolicyEntry.ApproveWeakMudUrl"/>). Default false.
    /// </summary>
    public bool RequireCertificateMudUrl { get; set; }

    /// <summary>Require the FedEdge MUD extension naming the task (default true).</summary>
    public bool RequireFederationExtension { get; set; } = true;

    /// <summary>Refuse devices whose MUD file says is-supported false (default false: admitted with a note).</summary>
    public bool RefuseUnsupported { get; set; }

    /// <summary>Parsing mode for MUD files (default strict).</summary>
    public MudParseMode ParseMode { get; set; } = MudParseMode.Strict;

    /// <summary>Administrator mappings used to compile the policy.</summary>
    public MudAbstractionMappings Mappings { get; set; } = new();

    /// <summary>Adds the certificates of a PEM file as trust anchors.</summary>
    public MudAdmissionOptions AddTrustAnchorsFromPem(string path)
    {
        var collection = new X509Certificate2Collection();
        collection.ImportFromPemFile(path);
        foreach (X509Certificate2 c in collection)
        {
            TrustAnchors.Add(c);
        }

        return this;
    }

    /// <summary>The problems with these options (empty when valid).</summary>
    public IReadOnlyList<string> Problems()
    {
        var p = new List<string>();
        if (string.IsNullOrWhiteSpace(CoordinatorHost))
        {
            p.Add("CoordinatorHost is required.");
        }

        if (CoordinatorPort is < 1 or > 65535)
        {
            p.Add("CoordinatorPort must be 1..65535.");
        }

        if (CoordinatorProtocol is not (6 or 17))
        {
            p.Add("CoordinatorProtocol must be 6 (tcp) or 17 (udp).");
        }

        if (TrustAnchors.Count == 0 && ApprovedMudUrls.Count == 0)
        {
            p.Add("Configure at least one trust anchor or one administrator-approved MUD URL; otherwise no device can be admitted.");
        }

        if (MudDirectory is not null && !Directory.Exists(MudDirectory))
        {
            p.Add($"MudDirectory '{MudDirectory}' does not exist.");
        }

        return p;
    }

    /// <summary>Throws <see cref="ArgumentException"/> when the options are not valid.</summary>
    public void Validate()
    {
        IReadOnlyList<string> p = Problems();
        if (p.Count > 0)
        {
            throw new ArgumentException("Invalid MUD admission options: " + string.Join(" ", p));
        }
    }
}
