using FedEdge.Aggregation;
using FedEdge.Messaging;
using FedEdge.Privacy;
using FedEdge.Rounds;

namespace FedEdge.Coordination;

/// <summary>A coordinator's ports and settings cannot work together; the message says which and what to change.</summary>
public sealed class CoordinatorConfigurationException : InvalidOperationException
{
    /// <summary>Creates the error.</summary>
    public CoordinatorConfigurationException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the error with a default message.</summary>
    public CoordinatorConfigurationException()
        : this("The coordinator's configuration cannot work.")
    {
    }

    /// <summary>Creates the error with an inner error.</summary>
    public CoordinatorConfigurationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Refuses, when the coordinator starts, compositions that could never run a round.</summary>
internal static class CompositionCheck
{
    public static void Validate(CoordinatorOptions options, ICoordinatorTransport transport, IAggregationStrategy strategy, IRoundProtocol protocol, IPrivacyAccountant? accountant)
    {
        if (protocol.RequiresProtocolChannel && !transport.SupportsProtocolMessages)
        {
            throw new ProtocolMessagesNotSupportedException(transport.GetType().Name);
        }

        if (accountant is not null && options.DpNoiseMultiplier is null)
        {
            throw new CoordinatorConfigurationException("A privacy accountant is registered but CoordinatorOptions.DpNoiseMultiplier is not set: the accountant cannot know what each round spends.");
        }

        AggregationRequirements needs = strategy.Requirements;
        if (needs.NeedsIndividualUpdates && !protocol.RevealsIndividualUpdates)
        {
            throw new CoordinatorConfigurationException(
                $"The aggregation strategy '{strategy.Name}' needs each device's update, but the round protocol '{protocol.Name}' reveals only their sum; use a sum-based strategy (fedavg, fedavgm, fedadam, ...) with secure aggregation.");
        }

        if (options.MaxParticipants is int max && needs.Check(max) is { } tooFew)
        {
            throw new CoordinatorConfigurationException($"{tooFew} (CoordinatorOptions.MaxParticipants = {max}); allow more participants or lower the strategy's f.");
        }

        if (options.WindowSize is int n && options.MaxParticipants is null && needs.Check(n) is { } smallWindow)
        {
            throw new CoordinatorConfigurationException($"{smallWindow} (CoordinatorOptions.WindowSize = {n}); widen the window or lower the strategy's f.");
        }
    }
}
