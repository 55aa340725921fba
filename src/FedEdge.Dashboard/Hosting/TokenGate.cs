using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace FedEdge.Dashboard.Hosting;

/// <summary>
/// The access check in front of everything the host serves when a token is required: a valid token in
/// <c>?access_token=</c>, <c>Authorization: Bearer</c> or the dashboard cookie lets the request through (and a
/// valid query token sets the cookie, so the page's scripts and the SignalR connection follow); anything else gets
/// 401 with an empty body.
/// </summary>
internal sealed class TokenGate
{
    internal const string CookieName = "fededge_dashboard";
    private readonly byte[] _tokenHash;

    private TokenGate(string token) => _tokenHash = SHA256.HashData(Encoding.UTF8.GetBytes(token));

    /// <summary>Reads the token (the file's first line) or says why it cannot be used.</summary>
    public static TokenGate FromFile(string path)
    {
        string token;
        try
        {
            token = File.ReadLines(path).FirstOrDefault()?.Trim() ?? string.Empty;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new DashboardConfigurationException($"The dashboard token file '{path}' cannot be read: {ex.Message}", ex);
        }

        if (token.Length < 16)
        {
            throw new DashboardConfigurationException($"The dashboard token in '{path}' is shorter than 16 characters; write a long random token on its first line.");
        }

        return new TokenGate(token);
    }

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        string? query = context.Request.Query["access_token"];
        string? header = context.Request.Headers.Authorization.ToString() is { } auth && auth.StartsWith("Bearer ", StringComparison.Ordinal) ? auth[7..] : null;
        string? cookie = context.Request.Cookies[CookieName];
        if (Matches(query) || Matches(header) || Matches(cookie))
        {
            if (query is not null && !Matches(cookie))
            {
                context.Response.Cookies.Append(CookieName, query, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Path = "/" });
            }

            await next(context).ConfigureAwait(false);
            return;
        }

        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.Headers.WWWAuthenticate = "Bearer realm=\"fededge-dashboard\"";
        context.Response.ContentLength = 0;
    }

    private bool Matches(string? candidate) =>
        !string.IsNullOrEmpty(candidate) && candidate.Length < 1024
        && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(candidate)), _tokenHash);
}
