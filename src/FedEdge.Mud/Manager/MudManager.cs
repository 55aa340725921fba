using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Mud.Admission;
using FedEdge.Mud.Signatures;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FedEdge.Mud.Manager;

/// <summary>Options for <see cref="MudManager"/>.</summary>
public sealed class MudManagerOptions
{
    /// <summary>Timeout of one fetch including redirects (default 10 s).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Largest accepted MUD file or signature (default 1 MiB).</summary>
    public int MaxBytes { get; set; } = 1024 * 1024;

    /// <summary>Most redirects followed, each of which must stay on https (default 3).</summary>
    public int MaxRedirects { get; set; } = 3;

    /// <summary>How long past its cache-validity a cached file may be served when fetching fails (default 7 days).</summary>
    public TimeSpan MaxStale { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Trust anchors for the MUD servers' TLS certificates; empty means the system trust store.</summary>
    public IList<X509Certificate2> HttpsTrustAnchors { get; } = [];

    /// <summary>Parsing mode used for the self-check (default strict).</summary>
    public MudParseMode ParseMode { get; set; } = MudParseMode.Strict;

    /// <summary>Optional signature verifier; when set, the signer is taken from a verified signature only.</summary>
    public MudSignatureVerifier? Verifier { get; set; }

    /// <summary>Throws when a value is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(Timeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBytes, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(MaxRedirects);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxStale, TimeSpan.Zero);
    }
}

/// <summary>The outcome of resolving a MUD URL through the manager.</summary>
public sealed record MudFetchOutcome
{
    /// <summary>The file and signature (null when none could be obtained).</summary>
    public MudFileFetch? File { get; init; }

    /// <summary>The parsed file.</summary>
    public MudFile? Parsed { get; init; }

    /// <summary>Served from the cache within cache-validity.</summary>
    public bool FromCache { get; init; }

    /// <summary>Served from the cache past cache-validity because fetching failed.</summary>
    public bool Stale { get; init; }

    /// <summary>The file changed in a way an administrator must re-approve (last-update, signer or authority).</summary>
    public bool RequiresReapproval { get; init; }

    /// <summary>What changed, when re-approval is required.</summary>
    public string? ReapprovalReason { get; init; }

    /// <summary>Why fetching failed, if it did.</summary>
    public string? Error { get; init; }
}

/// <summary>
/// The MUD manager: fetches MUD files over HTTPS only (certificate validation, <c>Accept: application/mud+json</c>,
/// redirects that stay on https, size cap, timeout), checks the file's own mud-url, resolves mud-signature, caches
/// for cache-validity hours, serves a stale copy when fetching fails and flags changes that need re-approval.
/// </summary>
public sealed class MudManager : IMudFileSource, IDisposable
{
    /// <summary>The MUD media type (RFC 8520 s15.2).</summary>
    public const string MudMediaType = "application/mud+json";

    private readonly MudManagerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly HttpClient _http;
    private readonly ConcurrentDictionary<string, Entry> _cache = new(StringComparer.Ordinal);

    /// <summary>Creates a manager.</summary>
    public MudManager(MudManagerOptions options, TimeProvider? timeProvider = null, ILogger<MudManager>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _time = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = options.Timeout,
            UseCookies = false,
        };
        if (options.HttpsTrustAnchors.Count > 0)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = ValidateWithAnchors;
        }

        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <inheritdoc />
    public async ValueTask<MudFileFetch?> GetAsync(Uri mudUrl, CancellationToken cancellationToken = default)
    {
        MudFetchOutcome outcome = await FetchAsync(mudUrl, cancellationToken).ConfigureAwait(false);
        return outcome.RequiresReapproval ? null : outcome.File;
    }

    /// <summary>Records an administrator's approval of the current copy of <paramref name="mudUrl"/>.</summary>
    public bool Approve(Uri mudUrl)
    {
        ArgumentNullException.ThrowIfNull(mudUrl);
        if (_cache.TryGetValue(mudUrl.AbsoluteUri, out Entry? e))
        {
            _cache[mudUrl.AbsoluteUri] = e with { RequiresReapproval = false, ReapprovalReason = null };
            return true;
        }

        return false;
    }

    /// <summary>Resolves a MUD URL: cache, then HTTPS fetch, then stale copy.</summary>
    public async Task<MudFetchOutcome> FetchAsync(Uri mudUrl, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mudUrl);
        if (mudUrl.Scheme != Uri.UriSchemeHttps)
        {
            return new MudFetchOutcome { Error = $"MUD URL '{mudUrl}' is not https; RFC 8520 forbids fetching it." };
        }

        string key = mudUrl.AbsoluteUri;
        DateTimeOffset now = _time.GetUtcNow();
        _cache.TryGetValue(key, out Entry? cached);
        if (cached is not null && now < cached.FetchedAt + TimeSpan.FromHours(cached.File.CacheValidityHours))
        {
            return cached.ToOutcome(fromCache: true, stale: false, error: null);
        }

        string? error;
        try
        {
            (byte[] content, Uri finalUrl) = await GetBytesAsync(mudUrl, MudMediaType, cancellationToken).ConfigureAwait(false);
            MudParseResult parsed = MudParser.Parse(content, new MudParserOptions { Mode = _options.ParseMode });
            if (!parsed.IsValid || parsed.File is null)
            {
                throw new MudFetchException($"The fetched file is not valid: {parsed.Errors.FirstOrDefault()}");
            }

            if (!string.Equals(parsed.File.MudUrl, key, StringComparison.Ordinal) && !string.Equals(parsed.File.MudUrl, mudUrl.OriginalString, StringComparison.Ordinal))
            {
                throw new MudFetchException($"The file's own mud-url '{parsed.File.MudUrl}' differs from the requested '{mudUrl}'.");
            }

            byte[]? signature = null;
            if (parsed.File.MudSignature is { } sigText)
            {
                if (!Uri.TryCreate(mudUrl, sigText, out Uri? sigUrl))
                {
                    throw new MudFetchException($"mud-signature '{sigText}' is not a URI.");
                }

                (signature, _) = await GetBytesAsync(sigUrl, "application/pkcs7-signature", cancellationToken).ConfigureAwait(false);
            }

            string? signer = SignerOf(content, signature);
            var entry = new Entry(parsed.File, new MudFileFetch(content, signature, finalUrl.AbsoluteUri), now, signer, finalUrl.Authority, false, null);
            if (cached is not null)
            {
                string? change = Change(cached, entry);
                bool pending = cached.RequiresReapproval || change is not null;
                entry = entry with { RequiresReapproval = pending, ReapprovalReason = change ?? cached.ReapprovalReason };
                if (change is not null)
                {
                    Log.ReapprovalRequired(_logger, key, change);
                }
            }

            _cache[key] = entry;
            Log.Fetched(_logger, key, content.Length);
            MudMetrics.Fetches.Add(1, new KeyValuePair<string, object?>("outcome", "fetched"));
            return entry.ToOutcome(fromCache: false, stale: false, error: null);
        }
        catch (MudFetchException ex)
        {
            error = ex.Message;
        }
        catch (HttpRequestException ex)
        {
            error = "HTTPS request failed: " + ex.Message;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            error = $"Fetching timed out after {_options.Timeout}.";
        }
        catch (IOException ex)
        {
            error = "Transfer failed: " + ex.Message;
        }

        MudMetrics.Fetches.Add(1, new KeyValuePair<string, object?>("outcome", "failed"));
        if (cached is not null && now < cached.FetchedAt + TimeSpan.FromHours(cached.File.CacheValidityHours) + _options.MaxStale)
        {
            Log.ServingStale(_logger, key, error);
            return cached.ToOutcome(fromCache: true, stale: true, error: error);
        }

        return new MudFetchOutcome { Error = error };
    }

    private static string? Change(Entry before, Entry after)
    {
        var changes = new List<string>();
        if (before.File.LastUpdate != after.File.LastUpdate)
        {
            changes.Add($"last-update changed from {before.File.LastUpdate:O} to {after.File.LastUpdate:O}");
        }

        if (!string.Equals(before.Signer, after.Signer, StringComparison.Ordinal))
        {
            changes.Add($"signer changed from '{before.Signer ?? "none"}' to '{after.Signer ?? "none"}'");
        }

        if (!string.Equals(before.Authority, after.Authority, StringComparison.OrdinalIgnoreCase))
        {
            changes.Add($"served from authority '{after.Authority}' instead of '{before.Authority}'");
        }

        return changes.Count == 0 ? null : string.Join("; ", changes);
    }

    private string? SignerOf(byte[] content, byte[]? signature)
    {
        if (signature is null)
        {
            return null;
        }

        if (_options.Verifier is { } verifier)
        {
            MudSignatureResult r = verifier.Verify(content, signature);
            return r.IsValid ? r.Signer : $"invalid signature ({r.Failure})";
        }

        try
        {
            var cms = new SignedCms(new ContentInfo(content), detached: true);
            cms.Decode(signature);
            return cms.SignerInfos.Count == 1 ? cms.SignerInfos[0].Certificate?.Subject : null;
        }
        catch (CryptographicException)
        {
            return "unreadable signature";
        }
    }

    private async Task<(byte[] Bytes, Uri FinalUrl)> GetBytesAsync(Uri url, string accept, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_options.Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        Uri current = url;
        for (int hop = 0; ; hop++)
        {
            if (current.Scheme != Uri.UriSchemeHttps)
            {
                throw new MudFetchException($"Redirected to '{current}', which is not https.");
            }

            using var request = new HttpRequestMessage(HttpMethod.Get, current);
            request.Headers.Accept.ParseAdd(accept);
            using HttpResponseMessage response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            if (status is 301 or 302 or 303 or 307 or 308)
            {
                if (hop >= _options.MaxRedirects)
                {
                    throw new MudFetchException($"More than {_options.MaxRedirects} redirects.");
                }

                Uri? location = response.Headers.Location;
                if (location is null)
                {
                    throw new MudFetchException("Redirect without a Location header.");
                }

                current = location.IsAbsoluteUri ? location : new Uri(current, location);
                continue;
            }

            if (status != 200)
            {
                throw new MudFetchException($"The server answered {status} {response.ReasonPhrase} for '{current}'.");
            }

            if (response.Content.Headers.ContentLength > _options.MaxBytes)
            {
                throw new MudFetchException($"The response is {response.Content.Headers.ContentLength} bytes; the limit is {_options.MaxBytes}.");
            }

            Stream stream = await response.Content.ReadAsStreamAsync(linked.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                using var buffer = new MemoryStream();
                byte[] chunk = new byte[16 * 1024];
                int read;
                while ((read = await stream.ReadAsync(chunk, linked.Token).ConfigureAwait(false)) > 0)
                {
                    if (buffer.Length + read > _options.MaxBytes)
                    {
                        throw new MudFetchException($"The response exceeds the {_options.MaxBytes}-byte limit.");
                    }

                    buffer.Write(chunk, 0, read);
                }

                return (buffer.ToArray(), current);
            }
        }
    }

    private bool ValidateWithAnchors(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) != 0)
        {
            return false;
        }

        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        custom.ChainPolicy.VerificationTime = _time.GetUtcNow().UtcDateTime;
        foreach (X509Certificate2 a in _options.HttpsTrustAnchors)
        {
            custom.ChainPolicy.CustomTrustStore.Add(a);
        }

        if (chain is not null)
        {
            foreach (X509ChainElement el in chain.ChainElements)
            {
                custom.ChainPolicy.ExtraStore.Add(el.Certificate);
            }
        }

        using var leaf = new X509Certificate2(certificate);
        return custom.Build(leaf);
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    private sealed record Entry(MudFile File, MudFileFetch Fetch, DateTimeOffset FetchedAt, string? Signer, string Authority, bool RequiresReapproval, string? ReapprovalReason)
    {
        public MudFetchOutcome ToOutcome(bool fromCache, bool stale, string? error) => new()
        {
            File = Fetch,
            Parsed = File,
            FromCache = fromCache,
            Stale = stale,
            RequiresReapproval = RequiresReapproval,
            ReapprovalReason = ReapprovalReason,
            Error = error,
        };
    }
}

/// <summary>A MUD file could not be fetched (the message says why).</summary>
public sealed class MudFetchException : Exception
{
    /// <summary>Creates the exception.</summary>
    public MudFetchException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public MudFetchException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public MudFetchException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
