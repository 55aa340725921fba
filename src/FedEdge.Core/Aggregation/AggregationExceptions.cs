namespace FedEdge.Aggregation;

/// <summary>Thrown when a robust strategy, which keeps every update of a round, is offered more than its configured maximum.</summary>
public sealed class AggregationCapacityExceededException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public AggregationCapacityExceededException()
        : base("The aggregation round already holds its maximum number of updates.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public AggregationCapacityExceededException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public AggregationCapacityExceededException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Thrown when a robust strategy is completed with fewer updates than its guarantee needs (e.g. Krum needs n &gt; 2f + 2).</summary>
public sealed class InsufficientUpdatesException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public InsufficientUpdatesException()
        : base("The aggregation round has too few updates for the strategy's robustness guarantee.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public InsufficientUpdatesException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public InsufficientUpdatesException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// Thrown by a host that refuses, before the first round, a configuration its aggregation strategy cannot work
/// with: too few devices for the strategy's bound (Krum with f = 1 and four devices), or secure aggregation with
/// a strategy that needs each update on its own. The message says what cannot hold and what to change.
/// </summary>
public sealed class AggregationConfigurationException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public AggregationConfigurationException()
        : base("The aggregation strategy cannot work with this configuration.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public AggregationConfigurationException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public AggregationConfigurationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with the reason and the requirements that cannot hold.</summary>
    /// <param name="message">Why the configuration cannot work, e.g. <see cref="AggregationRequirements.Check"/>'s sentence.</param>
    /// <param name="requirements">The strategy's requirements.</param>
    public AggregationConfigurationException(string message, AggregationRequirements requirements)
        : base(message)
    {
        ArgumentNullException.ThrowIfNull(requirements);
        Requirements = requirements;
    }

    /// <summary>The strategy's requirements that cannot hold, when known.</summary>
    public AggregationRequirements? Requirements { get; }
}
