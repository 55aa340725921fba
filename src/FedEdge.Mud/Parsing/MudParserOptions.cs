namespace FedEdge.Mud;

/// <summary>Limits and mode for <see cref="MudParser"/>. Every limit keeps hostile input bounded.</summary>
public sealed class MudParserOptions
{
    /// <summary>Strict (RFC 8520 as written) or lenient (also reads draft-era shapes).</summary>
    public MudParseMode Mode { get; set; } = MudParseMode.Strict;

    /// <summary>Largest accepted input in bytes (default 1 MiB).</summary>
    public int MaxBytes { get; set; } = 1024 * 1024;

    /// <summary>Deepest accepted JSON nesting (default 32; real MUD files need about 10).</summary>
    public int MaxDepth { get; set; } = 32;

    /// <summary>Most ACEs accepted in one file (default 4096).</summary>
    public int MaxAces { get; set; } = 4096;

    /// <summary>Most diagnostics kept (default 500); further ones are summarised.</summary>
    public int MaxDiagnostics { get; set; } = 500;

    /// <summary>Throws when a limit is not positive.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxDepth, 4);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxAces, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxDiagnostics, 1);
    }

    /// <summary>Strict defaults.</summary>
    public static MudParserOptions Strict => new();

    /// <summary>Lenient defaults.</summary>
    public static MudParserOptions Lenient => new() { Mode = MudParseMode.Lenient };
}

/// <summary>The outcome of parsing and validating one MUD file.</summary>
public sealed record MudParseResult
{
    /// <summary>The model, when the input was readable JSON with a recognisable MUD structure.</summary>
    public MudFile? File { get; init; }

    /// <summary>Every finding, in document order.</summary>
    public IReadOnlyList<MudDiagnostic> Diagnostics { get; init; } = [];

    /// <summary>The mode used.</summary>
    public MudParseMode Mode { get; init; }

    /// <summary>True when a model was produced and no finding is an error.</summary>
    public bool IsValid => File is not null && !Diagnostics.Any(d => d.Severity == MudSeverity.Error);

    /// <summary>The errors only.</summary>
    public IEnumerable<MudDiagnostic> Errors => Diagnostics.Where(d => d.Severity == MudSeverity.Error);
}

/// <summary>Thrown by <see cref="MudParser.ParseValid(ReadOnlySpan{byte}, MudParserOptions?)"/> when a file is not valid; names the first error's JSON path and rule.</summary>
public sealed class MudValidationException : Exception
{
    /// <summary>Creates the exception from the failing diagnostics.</summary>
    public MudValidationException(IReadOnlyList<MudDiagnostic> diagnostics)
        : base(Describe(diagnostics))
    {
        Diagnostics = diagnostics;
    }

    /// <summary>Creates an exception with a message.</summary>
    public MudValidationException()
        : this([])
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public MudValidationException(string message)
        : base(message)
    {
        Diagnostics = [];
    }

    /// <summary>Creates an exception with a message and inner exception.</summary>
    public MudValidationException(string message, Exception innerException)
        : base(message, innerException)
    {
        Diagnostics = [];
    }

    /// <summary>The error diagnostics.</summary>
    public IReadOnlyList<MudDiagnostic> Diagnostics { get; }

    private static string Describe(IReadOnlyList<MudDiagnostic> diagnostics)
        => diagnostics.Count == 0
            ? "The MUD file is not valid."
            : $"The MUD file is not valid: {diagnostics[0]}" + (diagnostics.Count > 1 ? $" (+{diagnostics.Count - 1} more)" : string.Empty);
}
