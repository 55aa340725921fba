using System.Security.Cryptography;
using FedEdge.Security;
using Microsoft.Extensions.Logging;

namespace FedEdge.Cli;

/// <summary>
/// Reloads <c>--crl FILE</c> into the running process's <see cref="CertificateValidator"/> when the file changes (after
/// <c>fededge pki revoke</c>), so a revoked device's next connection or message is refused without a restart. The file
/// is polled: its contents' hash decides whether it changed, so an editor's atomic replace, a copy or a touch that keeps
/// the bytes all behave. A CRL that does not load (unreadable, half written, not signed by the federation CA) leaves the
/// previous one in force and is logged; the next change is tried again.
/// </summary>
internal sealed partial class CrlFileWatch : IAsyncDisposable
{
    /// <summary>How often the file is looked at.</summary>
    public static readonly TimeSpan DefaultPeriod = TimeSpan.FromSeconds(1);

    private readonly CertificateValidator _validator;
    private readonly string _path;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private byte[] _lastHash;
    private byte[] _lastBadHash = [];

    private CrlFileWatch(CertificateValidator validator, string path, ILogger logger, TimeSpan period, TimeProvider time)
    {
        _validator = validator;
        _path = path;
        _logger = logger;
        _lastHash = HashOf(path) ?? [];
        _loop = RunAsync(period, time);
    }

    /// <summary>Starts watching <paramref name="path"/> (already loaded into <paramref name="validator"/>).</summary>
    public static CrlFileWatch Start(CertificateValidator validator, string path, ILogger logger, TimeSpan? period = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(validator);
        ArgumentException.ThrowIfNullOrEmpty(path);
        return new CrlFileWatch(validator, Path.GetFullPath(path), logger, period ?? DefaultPeriod, time ?? TimeProvider.System);
    }

    /// <summary>How many times a changed CRL was loaded.</summary>
    public int Reloads { get; private set; }

    /// <summary>Looks at the file once: reloads it when its contents changed. Returns true when a new CRL is in force.</summary>
    public bool CheckNow()
    {
        byte[]? hash = HashOf(_path);
        if (hash is null || hash.AsSpan().SequenceEqual(_lastHash) || hash.AsSpan().SequenceEqual(_lastBadHash))
        {
            return false;
        }

        try
        {
            _validator.ReloadCrl(File.ReadAllBytes(_path));
        }
        catch (Exception ex) when (ex is CredentialException or IOException or UnauthorizedAccessException)
        {
            // Logged once per bad content: a half-written file is tried again once it changes (or is completed).
            _lastBadHash = hash;
            LogKeptOld(_logger, _path, ex.Message);
            return false;
        }

        _lastHash = hash;
        Reloads++;
        LogReloaded(_logger, _path, _validator.RevokedCount);
        return true;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }

    private static byte[]? HashOf(string path)
    {
        try
        {
            return SHA256.HashData(File.ReadAllBytes(path));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private async Task RunAsync(TimeSpan period, TimeProvider time)
    {
        using var timer = new PeriodicTimer(period, time);
        while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
        {
            CheckNow();
        }
    }

    [LoggerMessage(EventId = 9101, Level = LogLevel.Warning, Message = "CRL reloaded from {Path}: {Revoked} revoked certificates; revoked devices are refused from their next connection or message")]
    private static partial void LogReloaded(ILogger logger, string path, int revoked);

    [LoggerMessage(EventId = 9102, Level = LogLevel.Error, Message = "CRL {Path} changed but could not be loaded, the previous CRL stays in force: {Reason}")]
    private static partial void LogKeptOld(ILogger logger, string path, string reason);
}
