using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Admission;
using FedEdge.Mud.Compilation;
using FedEdge.Mud.Discovery;
using FedEdge.Mud.Signatures;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FedEdge.Mud.Admission;

/// <summary>
/// Admits a device into a federation only when its MUD file is valid and signed by a trusted manufacturer (or
/// approved by an administrator), its compiled policy lets it reach the coordinator, it is not quarantined, and
/// the FedEdge MUD extension allows the requested task and model. Refusals carry every reason found.
/// </summary>
public sealed class MudAdmissionPolicy : IAdmissionPolicy
{
    /// <summary>The request attribute holding the device's MAC address.</summary>
    public const string MacAttribute = "mac";

    private readonly MudAdmissionOptions _options;
    private readonly IMudFileSource _source;
    private readonly IMudQuarantine _quarantine;
    private readonly MudSignatureVerifier _verifier;
    private readonly ILogger _logger;
    private readonly PolicyServer.UserPolicyServer? _ups;

    /// <summary>Creates the policy.</summary>
    /// <param name="options">The options (validated here).</param>
    /// <param name="source">Where MUD files come from (a folder, memory, or the HTTPS <c>MudManager</c>).</param>
    /// <param name="quarantine">The quarantine list (default: an empty in-memory list).</param>
    /// <param name="timeProvider">The clock for signature verification.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="userPolicyServer">When given, administrator overlays are merged into the compiled policy before the coordinator check.</param>
    public MudAdmissionPolicy(MudAdmissionOptions options, IMudFileSource source, IMudQuarantine? quarantine = null, TimeProvider? timeProvider = null, ILogger<MudAdmissionPolicy>? logger = null, PolicyServer.UserPolicyServer? userPolicyServer = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(source);
        options.Validate();
        _options = options;
        _source = source;
        _quarantine = quarantine ?? new MudQuarantineList();
        var verifierOptions = new MudSignatureVerifierOptions { VerificationTime = options.VerificationTime };
        foreach (X509Certificate2 c in options.TrustAnchors)
        {
            verifierOptions.TrustAnchors.Add(c);
        }

        _verifier = new MudSignatureVerifier(verifierOptions, timeProvider);
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _ups = userPolicyServer;
    }

    /// <summary>
    /// Builds a policy from a folder of MUD files with their <c>.p7s</c> signatures and a PEM trust-anchor file.
    /// </summary>
    public static MudAdmissionPolicy FromDirectory(string mudDirectory, string trustAnchorPem, string coordinatorHost, int coordinatorPort, Action<MudAdmissionOptions>? configure = null, TimeProvider? timeProvider = null)
    {
        var options = new MudAdmissionOptions { CoordinatorHost = coordinatorHost, CoordinatorPort = coordinatorPort, MudDirectory = mudDirectory };
        options.AddTrustAnchorsFromPem(trustAnchorPem);
        configure?.Invoke(options);
        return new MudAdmissionPolicy(options, MudFileSources.FromDirectory(mudDirectory), null, timeProvider);
    }

    /// <inheritdoc />
    public async ValueTask<AdmissionDecision> EvaluateAsync(AdmissionRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        using System.Diagnostics.Activity? activity = MudMetrics.ActivitySource.StartActivity("fededge.mud.admission");
        activity?.SetTag("fededge.device.id", request.DeviceId);
        var reasons = new List<string>();
        var notes = new List<string>();
        request.Attributes.TryGetValue(MacAttribute, out string? mac);

        string? quarantined = await _quarantine.GetReasonAsync(request.DeviceId, mac, cancellationToken).ConfigureAwait(false);
        if (quarantined is not null)
        {
            reasons.Add($"Device is quarantined: {quarantined}.");
        }

        X509Certificate2? cert = null;
        Uri? url = request.MudUrl;
        if (!request.CertificateDer.IsEmpty)
        {
            try
            {
                cert = X509CertificateLoader.LoadCertificate(request.CertificateDer.Span);
                MudExtensionValue? certUrl = MudCertificateExtensions.ReadMudUrl(cert);
                if (certUrl is not null)
                {
                    var strong = new Uri(certUrl.Value);
                    if (url is not null && url.AbsoluteUri != strong.AbsoluteUri)
                    {
                        reasons.Add($"The presented MUD URL '{url}' differs from the one in the device certificate '{strong}'.");
                    }

                    url = strong;
                    notes.Add($"MUD URL from the device certificate (strong){(certUrl.Quality == MudEncodingQuality.Tolerated ? $", tolerated encoding: {certUrl.Note}" : string.Empty)}.");
                }
            }
            catch (CryptographicException ex)
            {
                reasons.Add($"The device certificate cannot be read: {ex.Message}");
            }
        }

        if (url is null)
        {
            reasons.Add("The device presented no MUD URL.");
            return Finish(request, reasons, notes);
        }

        if (cert is null || notes.Count == 0)
        {
            notes.Add($"MUD URL from {request.MudUrlSource ?? "the request"} (weak).");
            PolicyServer.UserPolicyEntry? approval = null;
            string? upsProblem = null;
            if (_ups is not null)
            {
                try
                {
                    approval = await _ups.FindWeakMudUrlApprovalAsync(request.AuthenticatedDeviceId, mac, url.AbsoluteUri, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
                {
                    // An unreadable store approves nothing; the refusal says why instead of failing the join.
                    upsProblem = ex.Message;
                }
            }

            if (approval is not null)
            {
                string who = approval.DeviceId is not null && string.Equals(approval.DeviceId, request.AuthenticatedDeviceId, StringComparison.Ordinal)
                    ? $"device '{approval.DeviceId}' (verified certificate)"
                    : $"MAC {approval.Mac}";
                notes.Add($"Weakly sourced MUD URL approved by administrator '{approval.Owner}' for {who} in the User Policy Server (entry {approval.Id}).");
            }
            else if (_options.RequireCertificateMudUrl)
            {
                reasons.Add($"The MUD URL '{url}' comes from a weak source ({request.MudUrlSource ?? "the request"}), not the device certificate; with certificates configured it is refused unless an administrator approved it for this device in the User Policy Server{(upsProblem is null ? "." : $" (the User Policy Server could not be read: {upsProblem}).")}");
                return Finish(request, reasons, notes);
            }
        }

        if (!MudParser.IsHttpsUrl(url.OriginalString, out string why))
        {
            reasons.Add($"MUD URL '{url}' {why}.");
            return Finish(request, reasons, notes);
        }

        MudFileFetch? fetch = await _source.GetAsync(url, cancellationToken).ConfigureAwait(false);
        if (fetch is null)
        {
            reasons.Add($"No MUD file is available for '{url}'.");
            return Finish(request, reasons, notes);
        }

        MudParseResult parsed = MudParser.Parse(fetch.Content, new MudParserOptions { Mode = _options.ParseMode });
        if (!parsed.IsValid || parsed.File is null)
        {
            List<MudDiagnostic> errors = parsed.Errors.ToList();
            reasons.Add($"The MUD file {fetch.Origin} is not valid ({errors.Count} error(s)).");
            reasons.AddRange(errors.Take(5).Select(e => $"{e.Code} at {e.Path}: {e.Message} [{e.Rule}]"));
            return Finish(request, reasons, notes);
        }

        MudFile file = parsed.File;
        if (!string.Equals(file.MudUrl, url.AbsoluteUri, StringComparison.Ordinal) && !string.Equals(file.MudUrl, url.OriginalString, StringComparison.Ordinal))
        {
            reasons.Add($"The MUD file's own mud-url '{file.MudUrl}' is not the requested '{url}'.");
        }

        bool approved = _options.ApprovedMudUrls.Contains(url.AbsoluteUri) || _options.ApprovedMudUrls.Contains(url.OriginalString);
        if (fetch.Signature is null)
        {
            if (approved)
            {
                notes.Add("Unsigned MUD file approved by an administrator.");
            }
            else
            {
                reasons.Add("The MUD file has no signature and no administrator approved it.");
            }
        }
        else
        {
            MudSignatureResult sig = _verifier.Verify(fetch.Content, fetch.Signature, cert);
            if (sig.IsValid)
            {
                notes.Add(sig.Reason);
            }
            else if (approved)
            {
                notes.Add($"Signature failed ({sig.Failure}: {sig.Reason}) but an administrator approved this MUD URL.");
            }
            else
            {
                reasons.Add($"MUD signature invalid ({sig.Failure}): {sig.Reason}");
            }
        }

        var device = new MudDeviceBinding(request.DeviceId, mac);
        CompiledPolicy policy = MudRuleCompiler.Compile(file, device, _options.Mappings);
        if (_ups is not null)
        {
            PolicyServer.MergedPolicy? merged = await _ups.ResolveAsync(device, url.AbsoluteUri, file, _options.Mappings, cancellationToken).ConfigureAwait(false);
            if (merged is not null)
            {
                policy = merged.Policy;
                notes.AddRange(merged.Reports.Select(r => "User Policy Server: " + r.Explanation));
            }
        }

        string proto = _options.CoordinatorProtocol == 6 ? "tcp" : "udp";
        if (!policy.AllowsConnection(_options.CoordinatorHost, _options.CoordinatorPort, _options.CoordinatorProtocol))
        {
            reasons.Add($"The compiled MUD policy does not allow traffic to the coordinator {_options.CoordinatorHost}:{_options.CoordinatorPort}/{proto}.");
        }

        if (file.Federation is null)
        {
            if (_options.RequireFederationExtension)
            {
                reasons.Add($"The MUD file does not declare the '{MudFederationExtension.ExtensionName}' extension naming the federated tasks the device may train.");
            }
        }
        else if (request.Task is not null && !file.Federation.Allows(request.Task, request.Model))
        {
            reasons.Add($"The manufacturer's MUD file does not allow task '{request.Task}'{(request.Model is null ? string.Empty : $" with model '{request.Model}'")}.");
        }
        else if (request.Task is null && _options.RequireFederationExtension)
        {
            reasons.Add("The join request names no federated task.");
        }

        if (!file.IsSupported)
        {
            (_options.RefuseUnsupported ? reasons : notes).Add("The manufacturer no longer supports this device (is-supported false).");
        }

        return Finish(request, reasons, notes);
    }

    private AdmissionDecision Finish(AdmissionRequest request, List<string> reasons, List<string> notes)
    {
        if (reasons.Count == 0)
        {
            Log.Admitted(_logger, request.DeviceId);
            MudMetrics.Admissions.Add(1, new KeyValuePair<string, object?>("outcome", "admitted"));
            return AdmissionDecision.Admit([.. notes]);
        }

        Log.Refused(_logger, request.DeviceId, string.Join(" | ", reasons));
        MudMetrics.Admissions.Add(1, new KeyValuePair<string, object?>("outcome", "refused"));
        return AdmissionDecision.Refuse([.. reasons]);
    }
}
