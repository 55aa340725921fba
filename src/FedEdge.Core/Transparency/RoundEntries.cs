using FedEdge.Coordination;
using FedEdge.Reputation;

namespace FedEdge.Transparency;

/// <summary>Turns a round's result into its transparency-log entries.</summary>
internal static class RoundEntries
{
    /// <summary>How a round record names the pre-aggregation of <paramref name="strategy"/>: <c>nnm</c> or <c>none</c> for the rules that take the updates one by one, null for the others.</summary>
    public static string? MixingOf(Aggregation.IAggregationStrategy strategy) =>
        !strategy.Requirements.NeedsIndividualUpdates ? null
        : strategy.Requirements.PreAggregation == Aggregation.PreAggregation.NearestNeighbourMixing ? "nnm" : "none";

    /// <summary>One entry per accepted update (with the device's signature and certificate when it signed), one per refusal or missed update, a secure-aggregation round's transcript, the round record (with the strategy state's hashes before and after, for stateful strategies), then one per reputation change.</summary>
    public static List<LedgerEntry> From(RoundResult result, string strategy, string? stateBefore = null, string? stateAfter = null, string? mixing = null)
    {
        var entries = new List<LedgerEntry>();
        Dictionary<string, SignedUpdate> signatures = result.Signatures.ToDictionary(s => s.DeviceId, StringComparer.Ordinal);
        var logged = new HashSet<string>(StringComparer.Ordinal);
        foreach (AcceptedUpdate u in result.Updates)
        {
            signatures.TryGetValue(u.DeviceId, out SignedUpdate? signed);
            logged.Add(u.DeviceId);
            entries.Add(new LedgerEntry
            {
                Kind = LedgerEntryKind.Update,
                Round = result.Round,
                DeviceId = u.DeviceId,
                Digest = u.Digest,
                Signature = signed?.Signature ?? ReadOnlyMemory<byte>.Empty,
                Certificate = signed?.Certificate ?? ReadOnlyMemory<byte>.Empty,
                SampleCount = u.SampleCount,
                Outcome = result.Completed ? "accepted" : "accepted; the round failed",
            });
        }

        foreach (string device in result.Contributors.Where(d => !logged.Contains(d)))
        {
            // The protocol revealed no individual update (secure aggregation): the signature is all there is.
            signatures.TryGetValue(device, out SignedUpdate? signed);
            entries.Add(new LedgerEntry
            {
                Kind = LedgerEntryKind.Update,
                Round = result.Round,
                DeviceId = device,
                Digest = signed is null ? null : Convert.ToHexStringLower(signed.Digest.Span),
                Signature = signed?.Signature ?? ReadOnlyMemory<byte>.Empty,
                Certificate = signed?.Certificate ?? ReadOnlyMemory<byte>.Empty,
                Outcome = "accepted (only the sum is known)",
            });
        }

        foreach (RefusedUpdate r in result.Refused.Concat(result.Failed))
        {
            entries.Add(new LedgerEntry { Kind = LedgerEntryKind.Refusal, Round = r.Round, DeviceId = r.DeviceId, Reason = r.Reason });
        }

        if (result.Transcript is { } transcript)
        {
            entries.Add(new LedgerEntry
            {
                Kind = LedgerEntryKind.Transcript,
                Round = result.Round,
                Roster = transcript.Roster,
                Threshold = transcript.Threshold,
                Participants = transcript.Contributors,
                Dropouts = transcript.RecoveredDropouts,
                SumHash = Rounds.SecureAggregationTranscript.SumHash(transcript.Sum.Span),
            });
        }

        entries.Add(new LedgerEntry
        {
            Kind = LedgerEntryKind.Round,
            Round = result.Round,
            Strategy = strategy,
            Mixing = mixing,
            Participants = result.Contributors,
            ModelHash = result.GlobalHash,
            Completed = result.Completed,
            Reason = result.FailureReason,
            StateBefore = stateBefore,
            StateAfter = stateAfter,
        });
        foreach (ReputationChange c in result.ReputationChanges)
        {
            entries.Add(new LedgerEntry
            {
                Kind = LedgerEntryKind.Reputation,
                Round = c.Round,
                DeviceId = c.DeviceId,
                PreviousScore = c.PreviousScore,
                Score = c.Score,
                Reason = c.Reason,
                Quarantined = c.Quarantined,
            });
        }

        return entries;
    }
}
