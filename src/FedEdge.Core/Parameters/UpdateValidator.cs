using System.Numerics.Tensors;
using FedEdge.Aggregation;

namespace FedEdge;

/// <summary>Why an update was refused before aggregation.</summary>
public enum UpdateRejectionReason
{
    /// <summary>The update was accepted.</summary>
    None = 0,

    /// <summary>The update answers another round.</summary>
    WrongRound = 1,

    /// <summary>The round nonce does not match (a replay or a forged update).</summary>
    WrongNonce = 2,

    /// <summary>The sender is not among the round's expected participants, or has no id.</summary>
    UnknownSender = 3,

    /// <summary>The sender already contributed an accepted update to this round.</summary>
    DuplicateSender = 4,

    /// <summary>The tensors' names, order or shapes differ from the global parameters.</summary>
    LayoutMismatch = 5,

    /// <summary>A value is NaN or infinite.</summary>
    NonFiniteValue = 6,

    /// <summary>The sample count (the aggregation weight) is zero or negative.</summary>
    NonPositiveSampleCount = 7,

    /// <summary>The update kind is not one the round accepts.</summary>
    UnsupportedKind = 8,
}

/// <summary>The outcome of validating one update: accepted, or refused with a typed reason and an explanation.</summary>
/// <param name="Reason">Why the update was refused; <see cref="UpdateRejectionReason.None"/> when accepted.</param>
/// <param name="Message">A human-readable explanation (empty when accepted).</param>
public readonly record struct UpdateValidationResult(UpdateRejectionReason Reason, string Message)
{
    /// <summary>The accepted result.</summary>
    public static UpdateValidationResult Accepted => new(UpdateRejectionReason.None, string.Empty);

    /// <summary>True when the update may be aggregated.</summary>
    public bool IsAccepted => Reason == UpdateRejectionReason.None;

    /// <summary>Creates a refusal.</summary>
    public static UpdateValidationResult Refused(UpdateRejectionReason reason, string message) => new(reason, message);
}

/// <summary>What a round expects of the updates that answer it.</summary>
public sealed record RoundExpectations
{
    /// <summary>The round number.</summary>
    public required long Round { get; init; }

    /// <summary>The round's nonce as sent in the round task.</summary>
    public required string Nonce { get; init; }

    /// <summary>The round's global parameters; every update must have the same layout.</summary>
    public required ParameterLayout Layout { get; init; }

    /// <summary>The senders selected for the round; null accepts any sender id.</summary>
    public IReadOnlySet<string>? ExpectedSenders { get; init; }

    /// <summary>The update kinds accepted; null accepts both parameters and deltas.</summary>
    public UpdateKind? RequiredKind { get; init; }
}

/// <summary>
/// Checks updates against one round's expectations before they reach an aggregator: round, nonce,
/// known sender, duplicate sender, layout, finite values and a positive sample count. An accepted
/// sender is remembered, so a second update from it is refused as a duplicate. Thread-safe.
/// </summary>
public sealed class UpdateValidator
{
    private readonly RoundExpectations _expectations;
    private readonly HashSet<string> _accepted = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>Creates a validator for one round.</summary>
    public UpdateValidator(RoundExpectations expectations)
    {
        ArgumentNullException.ThrowIfNull(expectations);
        ArgumentException.ThrowIfNullOrEmpty(expectations.Nonce, nameof(expectations));
        ArgumentNullException.ThrowIfNull(expectations.Layout, nameof(expectations));
        _expectations = expectations;
    }

    /// <summary>The round's expectations.</summary>
    public RoundExpectations Expectations => _expectations;

    /// <summary>The senders whose updates were accepted so far.</summary>
    public IReadOnlyCollection<string> AcceptedSenders
    {
        get
        {
            lock (_gate)
            {
                return _accepted.ToArray();
            }
        }
    }

    /// <summary>Checks an update without recording it (a second check of the same sender gives the same answer).</summary>
    public UpdateValidationResult Check(ModelUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        lock (_gate)
        {
            return CheckCore(update);
        }
    }

    /// <summary>Checks an update and, when it passes, records its sender so that a later update from it is a duplicate.</summary>
    public UpdateValidationResult Validate(ModelUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        lock (_gate)
        {
            UpdateValidationResult result = CheckCore(update);
            if (result.IsAccepted)
            {
                _accepted.Add(update.SenderId);
            }

            return result;
        }
    }

    /// <summary>
    /// As <see cref="Check"/>, but the pass over the values (finiteness) runs outside this validator's lock: checks of
    /// several updates may then run at once. Only the header checks, which read the accepted senders, hold the lock.
    /// </summary>
    internal UpdateValidationResult CheckConcurrently(ModelUpdate update)
    {
        UpdateValidationResult header;
        lock (_gate)
        {
            header = CheckHeader(update);
        }

        return header.IsAccepted ? CheckValues(update) : header;
    }

    /// <summary>Records <paramref name="senderId"/> as accepted, for a caller that has just passed its update through <see cref="Check"/> under its own lock.</summary>
    internal void MarkAccepted(string senderId)
    {
        lock (_gate)
        {
            _accepted.Add(senderId);
        }
    }

    /// <summary>
    /// Validates an update and folds it into <paramref name="round"/> only when it passes; a refused
    /// update never touches the aggregate. If the aggregator itself refuses the update (for example a
    /// robust strategy at its bound), the sender is forgotten again and the exception propagates.
    /// </summary>
    public UpdateValidationResult ValidateAndAdd(ModelUpdate update, IAggregationRound round)
    {
        ArgumentNullException.ThrowIfNull(update);
        ArgumentNullException.ThrowIfNull(round);
        lock (_gate)
        {
            UpdateValidationResult result = CheckCore(update);
            if (!result.IsAccepted)
            {
                return result;
            }

            round.Add(update);
            _accepted.Add(update.SenderId);
            return result;
        }
    }

    private UpdateValidationResult CheckCore(ModelUpdate update)
    {
        UpdateValidationResult header = CheckHeader(update);
        return header.IsAccepted ? CheckValues(update) : header;
    }

    /// <summary>Everything but the pass over the values: sender, round, nonce, duplicates, kind, weight and layout.</summary>
    private UpdateValidationResult CheckHeader(ModelUpdate update)
    {
        RoundExpectations e = _expectations;
        if (string.IsNullOrWhiteSpace(update.SenderId))
        {
            return UpdateValidationResult.Refused(UpdateRejectionReason.UnknownSender, "The update has no sender id.");
        }

        if (update.Round != e.Round)
        {
            return UpdateValidationResult.Refused(UpdateRejectionReason.WrongRound, $"Update from '{update.SenderId}' answers round {update.Round} but round {e.Round} is open.");
        }

        if (!string.Equals(update.Nonce, e.Nonce, StringComparison.Ordinal))
        {
            return UpdateValidationResult.Refused(UpdateRejectionReason.WrongNonce, $"Update from '{update.SenderId}' carries a nonce that does not match round {e.Round}'s (replayed or forged).");
        }

        if (e.ExpectedSenders is not null && !e.ExpectedSenders.Contains(update.SenderId))
        {
            return UpdateValidationResult.Refused(UpdateRejectionReason.UnknownSender, $"Sender '{update.SenderId}' was not selected for round {e.Round}.");
        }

        if (_accepted.Contains(update.SenderId))
        {
            return UpdateValidationResult.Refused(UpdateRejectionReason.DuplicateSender, $"Sender '{update.SenderId}' already contributed to round {e.Round}.");
        }

        if (e.RequiredKind is UpdateKind kind && update.Kind != kind)
        {
            return UpdateValidationResult.Refused(UpdateRejectionReason.UnsupportedKind, $"Update from '{update.SenderId}' is {update.Kind} but round {e.Round} expects {kind}.");
        }

        if (update.Kind is not (UpdateKind.Parameters or UpdateKind.Delta))
        {
            return UpdateValidationResult.Refused(UpdateRejectionReason.UnsupportedKind, $"Update from '{update.SenderId}' has unknown kind {(int)update.Kind}.");
        }

        if (update.SampleCount <= 0)
        {
            return UpdateValidationResult.Refused(UpdateRejectionReason.NonPositiveSampleCount, $"Update from '{update.SenderId}' reports {update.SampleCount} samples; the weight must be positive.");
        }

        if (update.IsDecoded && update.Values is null)
        {
            return UpdateValidationResult.Refused(UpdateRejectionReason.LayoutMismatch, $"Update from '{update.SenderId}' carries no values.");
        }

        // The claimed layout first: an update still encoded is decoded (its values read) only when its layout fits.
        string? mismatch = update.Layout is null ? "no layout" : e.Layout.DescribeMismatch(update.Layout);
        if (mismatch is not null)
        {
            return UpdateValidationResult.Refused(UpdateRejectionReason.LayoutMismatch, $"Update from '{update.SenderId}' does not match the global parameters: {mismatch}.");
        }

        return UpdateValidationResult.Accepted;
    }

    /// <summary>The pass over the values of an update whose header passed: every value finite. Reads only the update.</summary>
    private static UpdateValidationResult CheckValues(ModelUpdate update)
    {
        if (!TensorPrimitives.IsFiniteAll<float>(update.Values.Values))
        {
            int index = IndexOfNonFinite(update.Values.Values);
            return UpdateValidationResult.Refused(UpdateRejectionReason.NonFiniteValue, $"Update from '{update.SenderId}' has a non-finite value ({update.Values.Values[index]}) at flat index {index}.");
        }

        return UpdateValidationResult.Accepted;
    }

    private static int IndexOfNonFinite(ReadOnlySpan<float> values)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
            {
                return i;
            }
        }

        return -1;
    }
}
