using System.Collections.Concurrent;

namespace FedEdge.Mud.Admission;

/// <summary>A MUD file and its detached signature, as obtained for a MUD URL.</summary>
/// <param name="Content">The file's exact bytes.</param>
/// <param name="Signature">The detached CMS signature, when one was found.</param>
/// <param name="Origin">Where it came from (path or URL), for reasons and logs.</param>
public sealed record MudFileFetch(byte[] Content, byte[]? Signature, string Origin);

/// <summary>The port that yields the MUD file for a MUD URL (a folder, a cache, the HTTPS MUD manager).</summary>
public interface IMudFileSource
{
    /// <summary>The file for <paramref name="mudUrl"/>, or null when none is known.</summary>
    ValueTask<MudFileFetch?> GetAsync(Uri mudUrl, CancellationToken cancellationToken = default);
}

/// <summary>Factories for the built-in MUD file sources.</summary>
public static class MudFileSources
{
    /// <summary>
    /// A folder of MUD files indexed by their own mud-url (files up to 1 MiB named *.json or *.mud). The signature
    /// of <c>name.json</c> is <c>name.p7s</c>. When several files claim one URL, the one with its own signature wins;
    /// if that does not decide, the URL is ambiguous and yields nothing (fail closed).
    /// </summary>
    public static IMudFileSource FromDirectory(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        return new DirectoryMudFileSource(directory);
    }

    /// <summary>An in-memory source filled by the caller.</summary>
    public static InMemoryMudFileSource InMemory() => new();
}

/// <summary>An in-memory <see cref="IMudFileSource"/> (tests, simulations, files uploaded by administrators).</summary>
public sealed class InMemoryMudFileSource : IMudFileSource
{
    private readonly ConcurrentDictionary<string, MudFileFetch> _files = new(StringComparer.Ordinal);

    /// <summary>Adds or replaces the file for a URL.</summary>
    public InMemoryMudFileSource Add(Uri mudUrl, byte[] content, byte[]? signature = null, string? origin = null)
    {
        ArgumentNullException.ThrowIfNull(mudUrl);
        ArgumentNullException.ThrowIfNull(content);
        _files[mudUrl.AbsoluteUri] = new MudFileFetch(content, signature, origin ?? "memory");
        return this;
    }

    /// <inheritdoc />
    public ValueTask<MudFileFetch?> GetAsync(Uri mudUrl, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mudUrl);
        return ValueTask.FromResult(_files.TryGetValue(mudUrl.AbsoluteUri, out MudFileFetch? f) ? f : null);
    }
}

internal sealed class DirectoryMudFileSource(string directory) : IMudFileSource
{
    private const int MaxFileBytes = 1024 * 1024;

    public async ValueTask<MudFileFetch?> GetAsync(Uri mudUrl, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mudUrl);
        var candidates = new List<(string Path, byte[] Bytes, byte[]? Signature)>();
        foreach (string path in Directory.EnumerateFiles(directory).Where(p => p.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || p.EndsWith(".mud", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (new FileInfo(path).Length > MaxFileBytes)
            {
                continue;
            }

            byte[] bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
            MudParseResult parsed = MudParser.Parse(bytes, MudParserOptions.Lenient);
            if (parsed.File is null || !Uri.TryCreate(parsed.File.MudUrl, UriKind.Absolute, out Uri? url) || url.AbsoluteUri != mudUrl.AbsoluteUri)
            {
                continue;
            }

            string sigPath = Path.ChangeExtension(path, ".p7s");
            byte[]? sig = File.Exists(sigPath) ? await File.ReadAllBytesAsync(sigPath, cancellationToken).ConfigureAwait(false) : null;
            candidates.Add((path, bytes, sig));
        }

        if (candidates.Count > 1)
        {
            candidates = candidates.Where(c => c.Signature is not null).ToList();
        }

        return candidates.Count == 1 ? new MudFileFetch(candidates[0].Bytes, candidates[0].Signature, candidates[0].Path) : null;
    }
}
