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
