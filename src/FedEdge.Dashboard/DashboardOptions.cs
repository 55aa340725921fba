namespace FedEdge.Dashboard;

/// <summary>Settings of the dashboard, validated when the host starts.</summary>
public sealed class DashboardOptions
{
    /// <summary>How often changed state is pushed to the browsers (at most one snapshot per interval). Default 500 ms.</summary>
    public TimeSpan PushInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Require an access token on every request (set it whenever the host listens beyond loopback). Without a valid
    /// token (<c>?access_token=</c>, an <c>Authorization: Bearer</c> header, or the cookie the first valid request
    /// sets), every request gets 401 and nothing is served.
    /// </summary>
    public bool RequireToken { get; set; }

    /// <summary>The file holding the access token (its first line, at least 16 characters); needed with <see cref="RequireToken"/>.</summary>
    public string? TokenFile { get; set; }

    internal void Validate()
    {
        if (PushInterval < TimeSpan.FromMilliseconds(50) || PushInterval > TimeSpan.FromMinutes(1))
        {
            throw new DashboardConfigurationException($"DashboardOptions.PushInterval must be between 50 ms and 1 min; it is {PushInterval}.");
        }

        if (RequireToken && string.IsNullOrWhiteSpace(TokenFile))
        {
            throw new DashboardConfigurationException("The dashboard requires a token (it is reachable beyond loopback) but DashboardOptions.TokenFile is not set: write a token into a file and pass it (--dashboard-token FILE).");
        }
    }
}

/// <summary>A dashboard configuration that cannot work (a token required without a token file, a bad token file, a bad interval).</summary>
public sealed class DashboardConfigurationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public DashboardConfigurationException()
    {
    }

    /// <summary>Creates the exception with its message.</summary>
    public DashboardConfigurationException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its message and cause.</summary>
    public DashboardConfigurationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
