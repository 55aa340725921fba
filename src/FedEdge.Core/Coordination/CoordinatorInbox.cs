using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Admission;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Rounds;
using FedEdge.Security;
using Microsoft.Extensions.Logging;

namespace FedEdge.Coordination;

/// <summary>
/// What devices send to the coordinator, handled idempotently: joins go through admission into the
/// <see cref="DeviceRegistry"/>; statuses (heartbeats) refresh the registry, acknowledge round tasks and feed
/// <see cref="TrainingRequests"/>; updates and protocol payloads go to the running round's protocol session.
/// A duplicated or re-sent message is harmless: a second copy of an accepted update gets the same receipt.
/// </summary>
internal sealed class CoordinatorInbox(
    IAdmissionPolicy admission,
    DeviceRegistry registry,
    TrainingRequests requests,
    RoundTracker rounds,
    ICoordinatorTransport transport,
    CoordinatorTelemetry telemetry,
    TimeProvider time,
    ILogger logger,
    Action devicesChanged,
    FederationCredentials? credentials = null) : ICoordinatorHandler
{
    /// <summary>The verified certificate of each admitted device (when the federation uses certificates).</summary>
    private readonly ConcurrentDictionary<string, X509Certificate2> _certificates = new(StringComparer.Ordinal);

    /// <summary>With federation credentials every update's signature is verified against the device's certificate before it is used (an unsigned one is refused).</summary>
    public bool VerifiesUpdateSignatures => credentials is not null;

    public async ValueTask<JoinResponse> OnJoinAsync(JoinRequest request, InboundContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var reasons = new List<string>();
        if (request.ProtocolVersion != ProtocolVersion.Current)
        {
            reasons.Add($"protocol version {request.ProtocolVersion} is not supported; this coordinator speaks version {ProtocolVersion.Current}");
        }

        if (context.AuthenticatedId is not null && !string.Equals(context.AuthenticatedId, request.DeviceId, StringComparison.Ordinal))
        {
            reasons.Add($"the device claims id '{request.DeviceId}' but authenticated as '{context.AuthenticatedId}'");
        }

        if (reasons.Count == 0 && credentials is not null)
        {
            CheckCertificate(request, reasons);
        }

        IReadOnlyList<string> notes = [];
        if (reasons.Count == 0)
        {
            AdmissionDecision decision = await admission.EvaluateAsync(
                new AdmissionRequest
                {
                    DeviceId = request.DeviceId,

                    // CheckCertificate passed: the certificate chains, is valid, not revoked and names this id.
                    AuthenticatedDeviceId = credentials is not null ? request.DeviceId : null,
                    MudUrl = request.MudUrl,
                    MudUrlSource = request.MudUrl is null ? null : "join request",
                    CertificateDer = request.CertificateDer,
                    Task = request.Task,
                    Model = request.Model,
                    Attributes = request.Capabilities,
                },
                cancellationToken).ConfigureAwait(false);
            if (!decision.Admitted)
            {
                reasons.AddRange(decision.Reasons.Count > 0 ? decision.Reasons : ["refused by the admission policy"]);
            }
            else
            {
                // The notes can quote what the device sent (its MUD URL): kept, logged and reported, so bounded.
                notes = [.. decision.Reasons.Take(MaxAdmissionNotes).Select(n => Bounded(n, MaxAdmissionNoteLength)!)];
            }
        }

        if (reasons.Count > 0)
        {
            _certificates.TryRemove(request.DeviceId, out _);
            registry.Refuse(request.DeviceId, reasons);
            requests.Withdraw(request.DeviceId);
            LeaveRound(request.DeviceId, "refused at a new join: " + string.Join("; ", reasons));
            Log.DeviceRefused(logger, request.DeviceId, string.Join("; ", reasons));
            devicesChanged();
            return new JoinResponse { Accepted = false, Reasons = reasons };
        }

        registry.Admit(request.DeviceId, time.GetUtcNow(), notes);

        // A (re)joining device starts NotReady: any request it had is void until it asks again.
        requests.OnJoined(request.DeviceId);
        if (notes.Count > 0)
        {
            // How the policy judged the device (e.g. where its MUD URL came from) reaches the operator's log.
            Log.DeviceAdmittedWithNotes(logger, request.DeviceId, string.Join(" ", notes));
        }
        else
        {
            Log.DeviceAdmitted(logger, request.DeviceId);
        }

        devicesChanged();
        return new JoinResponse { Accepted = true };
    }

    public ValueTask OnStatusAsync(DeviceStatus status, InboundContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(status);

        // A device's own words reach logs, round results and reports: bound them and keep them on one line.
        status = status with { Reason = Bounded(status.Reason, MaxReasonLength), ActiveNonce = Bounded(status.ActiveNonce, MaxNonceLength) };
        if ((context.AuthenticatedId is not null && !string.Equals(context.AuthenticatedId, status.DeviceId, StringComparison.Ordinal))
            || !registry.Announce(status, time.GetUtcNow(), out bool returned, out bool changed))
        {
            Log.StatusFromUnknown(logger, status.DeviceId);
            return ValueTask.CompletedTask;
        }

        if (changed)
        {
            // What the device says of itself (e.g. "bad local data: …" while it stays NotReady) reaches the operator once per change.
            if (status.Intent == DeviceIntent.NotReady)
            {
                Log.DeviceNotReady(logger, status.DeviceId, status.Reason ?? "no reason given");
            }
            else
            {
                Log.DeviceIntent(logger, status.DeviceId, status.Intent, status.Reason ?? string.Empty);
            }
        }

        if (returned)
        {
            Log.DeviceReturned(logger, status.DeviceId);
        }

        ActiveRound? round = rounds.Current;
        if (round is not null && status.ActiveRound == round.Round && string.Equals(status.ActiveNonce, round.Task.Nonce, StringComparison.Ordinal)
            && round.Selected.Contains(status.DeviceId))
        {
            round.Acknowledge(status.DeviceId);
        }

        if (status.Intent == DeviceIntent.Training)
        {
            bool participant = round is not null && round.Selected.Contains(status.DeviceId);
            bool busy = participant && round!.Session.IsAwaiting(status.DeviceId);
            if (requests.Request(status.DeviceId, busy, participant) is { } outcome)
            {
                Log.TrainingRequest(logger, status.DeviceId, outcome);
            }
        }
        else
        {
            requests.Withdraw(status.DeviceId);
            LeaveRound(status.DeviceId, status.Reason ?? (status.Intent == DeviceIntent.NotReady ? "went offline or not ready" : "switched to " + status.Intent));
        }

        devicesChanged();
        return ValueTask.CompletedTask;
    }

    public async ValueTask OnUpdateAsync(ModelUpdate update, InboundContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(update);
        ActiveRound? open = rounds.Current;
        RoundUpdateVerdict? revoked = RefuseIfRevoked(update, context, open);
        RoundUpdateVerdict verdict = revoked ?? Judge(update, context);
        if (!verdict.IsAccepted && revoked is null && (open is null || update.Round != open.Round || !registry.IsAdmitted(update.SenderId)))
        {
            // The round protocol records what it judged; the rest is recorded with the open round here.
            open?.RecordRefusal(new RefusedUpdate(update.SenderId, update.Round, verdict.Reason ?? "refused"));
        }

        if (!verdict.IsAccepted)
        {
            telemetry.Refused();
            Log.UpdateRefused(logger, update.SenderId, update.Round, verdict.Reason ?? "refused");
        }

        // The receipt goes to the device that sent the update (its authenticated identity), never to the one it claims to be.
        await transport.SendReceiptAsync(context.AuthenticatedId ?? update.SenderId, new UpdateReceipt { Round = update.Round, Accepted = verdict.IsAccepted, Reason = verdict.Reason }, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask OnProtocolAsync(string deviceId, ReadOnlyMemory<byte> payload, InboundContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deviceId);
        string? reason;
        ActiveRound? round = rounds.Current;
        if (context.AuthenticatedId is not null && !string.Equals(context.AuthenticatedId, deviceId, StringComparison.Ordinal))
        {
            reason = $"the protocol message came from '{context.AuthenticatedId}' but names '{deviceId}'";
        }
        else if (!registry.IsAdmitted(deviceId))
        {
            reason = "unknown sender: the device was not admitted";
        }
        else
        {
            Touch(deviceId);
            reason = round is null ? "no round is open" : round.Session.OnProtocol(deviceId, payload);
        }

        if (reason is not null)
        {
            telemetry.Refused();
            Log.UpdateRefused(logger, deviceId, round?.Round ?? 0, reason);
        }

        return ValueTask.CompletedTask;
    }

    public async ValueTask OnMalformedAsync(string source, Exception error, CancellationToken cancellationToken)
    {
        telemetry.Refused();
        if (error is not UndecodableUpdateException undecodable || !registry.IsAdmitted(undecodable.DeviceId))
        {
            Log.Malformed(logger, source, error);
            return;
        }

        // An authenticated device sent an update that cannot be decoded (wrong length or shape, negative samples):
        // refused with a reason and a receipt to that device; a participant that sent it has failed the round.
        string deviceId = undecodable.DeviceId;
        string reason = Bounded(undecodable.Message, MaxReasonLength)!;
        Touch(deviceId);
        if (rounds.Current is { } open && open.Round == undecodable.Round)
        {
            open.RecordRefusal(new RefusedUpdate(deviceId, undecodable.Round, reason));
            LeaveRound(deviceId, reason);
        }

        Log.UpdateRefused(logger, deviceId, undecodable.Round, reason);
        await transport.SendReceiptAsync(deviceId, new UpdateReceipt { Round = undecodable.Round, Accepted = false, Reason = reason }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A device was lost (missed heartbeats): it leaves the window and the running round.</summary>
    public void OnLost(string deviceId, TimeSpan silence)
    {
        Log.DeviceLost(logger, deviceId, silence);
        requests.Withdraw(deviceId);
        LeaveRound(deviceId, $"lost: nothing heard for {silence.TotalSeconds:0.#} s");
        devicesChanged();
    }

    /// <summary>The longest reason a device may give for its state; longer ones are cut.</summary>
    internal const int MaxReasonLength = 256;

    /// <summary>How many of an admission policy's notes on an admitted device are kept, and how long each may be.</summary>
    internal const int MaxAdmissionNotes = 8, MaxAdmissionNoteLength = 1024;

    private const int MaxNonceLength = 64;

    /// <summary><paramref name="text"/> cut to <paramref name="max"/> characters with control characters replaced, or null.</summary>
    internal static string? Bounded(string? text, int max)
    {
        if (text is null)
        {
            return null;
        }

        string cut = text.Length > max ? text[..max] + "…" : text;
        return string.Create(cut.Length, cut, static (span, source) =>
        {
            for (int i = 0; i < source.Length; i++)
            {
                span[i] = char.IsControl(source[i]) ? ' ' : source[i];
            }
        });
    }

    private RoundUpdateVerdict Judge(ModelUpdate update, InboundContext context)
    {
        if (context.AuthenticatedId is not null && !string.Equals(context.AuthenticatedId, update.SenderId, StringComparison.Ordinal))
        {
            return new(RoundUpdateOutcome.Refused, $"the sender id '{update.SenderId}' does not match the authenticated identity '{context.AuthenticatedId}'");
        }

        if (!registry.IsAdmitted(update.SenderId))
        {
            return new(RoundUpdateOutcome.Refused, "unknown sender: the device was not admitted");
        }

        Touch(update.SenderId);

        // The signature is checked over the bytes as they travelled (a transport hands them over still encoded), so an
        // unsigned or forged update is refused before anything is decoded or allocated for it.
        byte[]? digest = credentials is null ? null : UpdateSigning.Digest(update);
        if (credentials is not null && SignatureProblem(update, digest!) is { } bad)
        {
            // The round protocol never sees it, so the refusal is recorded with the open round here.
            if (rounds.Current is { } current && current.Round == update.Round)
            {
                current.RecordRefusal(new RefusedUpdate(update.SenderId, update.Round, bad));
            }

            return new(RoundUpdateOutcome.Refused, bad);
        }

        ActiveRound? round = rounds.Current;
        if (round is not null && update.Round == round.Round)
        {
            if (DecodeProblem(update, round) is { } undecodable)
            {
                // As for an update the transport could not decode: refused with a reason, and a participant that sent it has failed.
                round.RecordRefusal(new RefusedUpdate(update.SenderId, update.Round, undecodable));
                LeaveRound(update.SenderId, undecodable);
                return new(RoundUpdateOutcome.Refused, undecodable);
            }

            if (credentials is not null)
            {
                // Before the protocol sees the update: the update that completes the round must find its signature
                // recorded when the round reads them. The round keeps only the signatures of the updates it accepted.
                round.RecordSignature(new SignedUpdate(update.SenderId, digest!, update.Signature)
                {
                    Certificate = _certificates.TryGetValue(update.SenderId, out X509Certificate2? signer) ? signer.RawData : ReadOnlyMemory<byte>.Empty,
                });
            }

            return round.Session.OnUpdate(update);
        }

        return round is not null && update.Round > round.Round
            ? new(RoundUpdateOutcome.Refused, $"round {update.Round} has not started (round {round.Round} is open)")
            : update.Round <= rounds.HighestStarted
                ? new(RoundUpdateOutcome.Refused, $"late update: round {update.Round} is closed")
                : new(RoundUpdateOutcome.Refused, $"round {update.Round} has not started");
    }

    /// <summary>
    /// The joining device must present a certificate that chains to the federation CA, is within its validity period,
    /// is not revoked and names the device id it claims; the verified certificate is kept for its signatures.
    /// </summary>
    private void CheckCertificate(JoinRequest request, List<string> reasons)
    {
        X509Certificate2? certificate = null;
        if (!request.CertificateDer.IsEmpty)
        {
            try
            {
                certificate = X509CertificateLoader.LoadCertificate(request.CertificateDer.Span);
            }
            catch (CryptographicException ex)
            {
                reasons.Add($"certificate refused ({CertificateRefusal.Invalid}): unreadable certificate: {ex.Message}");
                return;
            }
        }

        CertificateValidation validation = credentials!.Validator.ValidateClaim(certificate, request.DeviceId);
        if (!validation.IsValid)
        {
            certificate?.Dispose();
            reasons.Add($"certificate refused ({validation.Refusal}): {validation.Reason}");
            return;
        }

        _certificates[request.DeviceId] = certificate!;
    }

    /// <summary>
    /// Decodes an update that is still encoded, once it passed every check that needs no values, and says why it cannot
    /// be decoded, or null. An update whose claimed layout is not the round's is left encoded: the round refuses it
    /// for its layout without decoding it.
    /// </summary>
    private static string? DecodeProblem(ModelUpdate update, ActiveRound round)
    {
        if (update.IsDecoded || round.Task.GlobalParameters.Layout.DescribeMismatch(update.Layout) is not null)
        {
            return null;
        }

        try
        {
            _ = update.Values;
            return null;
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or OverflowException or InvalidDataException)
        {
            return Bounded($"The model update for round {update.Round} cannot be decoded: {ex.Message}", MaxReasonLength);
        }
    }

    /// <summary>
    /// A device revoked while admitted (the CRL was reloaded since its join): this update and everything after it is
    /// refused, the refusal is recorded with the open round, and the device leaves that round at once instead of being
    /// waited for. Null when the sender's certificate is not revoked.
    /// </summary>
    private RoundUpdateVerdict? RefuseIfRevoked(ModelUpdate update, InboundContext context, ActiveRound? open)
    {
        if (credentials is null
            || (context.AuthenticatedId is not null && !string.Equals(context.AuthenticatedId, update.SenderId, StringComparison.Ordinal))
            || RevokedSinceJoin(update.SenderId) is not { } revoked)
        {
            return null;
        }

        // Recorded before the device leaves: leaving may complete the round, whose result must name the refusal.
        // The certificate stays on file so every later update is refused for the same reason (until a join with a valid one).
        open?.RecordRefusal(new RefusedUpdate(update.SenderId, update.Round, revoked));
        registry.Refuse(update.SenderId, [revoked]);
        requests.Withdraw(update.SenderId);
        LeaveRound(update.SenderId, revoked);
        Log.DeviceRefused(logger, update.SenderId, revoked);
        devicesChanged();
        return new(RoundUpdateOutcome.Refused, revoked);
    }

    /// <summary>Why the device's verified certificate no longer counts (the CRL reloaded since its join lists it), or null.</summary>
    private string? RevokedSinceJoin(string deviceId) =>
        _certificates.TryGetValue(deviceId, out X509Certificate2? certificate) && credentials!.Validator.IsRevoked(certificate)
            ? $"certificate refused ({CertificateRefusal.Revoked}): certificate '{certificate.Subject}' (serial {certificate.SerialNumber}) was revoked after the device joined"
            : null;

    private string? SignatureProblem(ModelUpdate update, byte[] digest)
    {
        if (!_certificates.TryGetValue(update.SenderId, out X509Certificate2? certificate))
        {
            return $"update signature refused ({SignatureCheck.Missing}): no verified certificate for '{update.SenderId}'";
        }

        SignatureCheck check = UpdateSigning.Verify(update, digest, certificate);
        return check switch
        {
            SignatureCheck.Valid => null,
            SignatureCheck.Missing => $"update signature refused ({check}): the update is unsigned",
            _ => $"update signature refused ({check}): the signature does not verify against the certificate of '{update.SenderId}' (tampered, or made over different bytes)",
        };
    }

    private void Touch(string deviceId)
    {
        if (registry.Touch(deviceId, time.GetUtcNow()))
        {
            Log.DeviceReturned(logger, deviceId);
        }
    }

    private void LeaveRound(string deviceId, string reason)
    {
        if (rounds.Current is { } round && round.Owes(deviceId))
        {
            round.Session.Leave(deviceId, reason);
            Log.ParticipantLeft(logger, deviceId, round.Round, reason);
        }
    }
}
