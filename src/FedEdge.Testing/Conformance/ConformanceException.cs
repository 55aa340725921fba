namespace FedEdge.Testing;

/// <summary>
/// A conformance check failed: the implementation under test broke the contract the check names. Any test framework
/// reports it as a failed test (it is an ordinary exception), so the suites need no xUnit, NUnit or MSTest.
/// </summary>
public sealed class ConformanceException : Exception
{
    /// <summary>Creates the failure for <paramref name="check"/> with what went wrong.</summary>
    public ConformanceException(string check, string message, Exception? innerException = null)
        : base($"{check}: {message}", innerException)
    {
        Check = check;
    }

    /// <summary>Creates the failure with a message.</summary>
    public ConformanceException(string message)
        : this("conformance", message)
    {
    }

    /// <summary>Creates the failure with a message and a cause.</summary>
    public ConformanceException(string message, Exception innerException)
        : this("conformance", message, innerException)
    {
    }

    /// <summary>Creates the failure with a default message.</summary>
    public ConformanceException()
        : this("conformance", "A conformance check failed.")
    {
    }

    /// <summary>The name of the check that failed (e.g. <c>TaskIsDelivered</c>).</summary>
    public string Check { get; }
}
