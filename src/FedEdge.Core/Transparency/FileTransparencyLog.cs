using System.Security.Cryptography;
using System.Text;

namespace FedEdge.Transparency;

/// <summary>
/// The file-backed transparency log. A folder holds <c>entries.jsonl</c> (each line is one entry's leaf bytes),
/// <c>receipts.jsonl</c> (line i: the log key's base64 signature over entry i's index and leaf hash),
/// <c>heads.jsonl</c> (one signed tree head per append), <c>cosignatures.jsonl</c> (the committee's co-signatures of a
/// head, one line per head that was put to the committee) and <c>log-key.pem</c> (the public key that verifies them).
/// <see cref="LedgerVerifier"/> checks such a folder. Thread-safe within one process; one writer per folder.
/// </summary>
public sealed class FileTransparencyLog : ITransparencyLog
{
    /// <summary>The entries file name.</summary>
    public const string EntriesFile = "entries.jsonl";

    /// <summary>The receipts file name.</summary>
    public const string ReceiptsFile = "receipts.jsonl";

    /// <summary>The signed tree heads file name.</summary>
    public const string HeadsFile = "heads.jsonl";

    /// <summary>The committee co-signatures file name.</summary>
    public const string CoSignaturesFile = "cosignatures.jsonl";

    /// <summary>The log's public key file name (PEM SubjectPublicKeyInfo).</summary>
    public const string KeyFile = "log-key.pem";

    private readonly string _directory;
    private readonly ECDsa _key;
    private readonly TimeProvider _time;
    private readonly MerkleTree _tree = new();
    private readonly List<byte[]> _leaves = [];
    private readonly SemaphoreSlim _gate = new(1, 1);
    private SignedTreeHead? _head;

    /// <summary>Opens (or creates) the log in <paramref name="directory"/>, signing with <paramref name="signingKey"/> (ECDSA P-256; the caller keeps ownership).</summary>
    /// <exception cref="InvalidDataException">The existing log does not match its last signed head, or was signed by another key.</exception>
    public FileTransparencyLog(string directory, ECDsa signingKey, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(signingKey);
        if (signingKey.KeySize != 256)
        {
            throw new ArgumentException("The log key must be ECDSA P-256.", nameof(signingKey));
        }

        _directory = Path.GetFullPath(directory);
        _key = signingKey;
        _time = timeProvider ?? TimeProvider.System;
        System.IO.Directory.CreateDirectory(_directory);
        string publicPem = signingKey.ExportSubjectPublicKeyInfoPem();
        string keyPath = Path.Combine(_directory, KeyFile);
        if (File.Exists(keyPath))
        {
            if (!string.Equals(File.ReadAllText(keyPath).Trim(), publicPem.Trim(), StringComparison.Ordinal))
            {
                throw new InvalidDataException($"The transparency log in '{_directory}' was signed by another key ({KeyFile}); open it with that key or start a new log.");
            }
        }
        else
        {
            File.WriteAllText(keyPath, publicPem + "\n");
        }

        Load();
    }

    /// <summary>The folder that holds the log.</summary>
    public string Directory => _directory;

    /// <inheritdoc />
    public SignedTreeHead? Head => Volatile.Read(ref _head);

    /// <summary>The number of entries.</summary>
    public long Size => _tree.Size;

    /// <inheritdoc />
    public async ValueTask<SignedTreeHead> AppendAsync(IReadOnlyList<LedgerEntry> entries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            DateTimeOffset now = _time.GetUtcNow();
            var lines = new StringBuilder();
            var leafHashes = new ReadOnlyMemory<byte>[entries.Count];
            long first = _tree.Size;
            for (int i = 0; i < entries.Count; i++)
            {
                byte[] leaf = entries[i].ToJson(_tree.Size, now);
                lock (_tree)
                {
                    int index = _tree.Append(leaf);
                    _leaves.Add(leaf);
                    leafHashes[i] = _tree.LeafHashAt(index);
                }

                lines.Append(Encoding.UTF8.GetString(leaf)).Append('\n');
            }

            SignedTreeHead head;
            lock (_tree)
            {
                head = SignedTreeHead.Sign(_tree.Size, _tree.RootHash(_tree.Size), now, _key);
            }

            // The receipts are signed while the entries are written and synced (the key is used by that one task
            // only); the files still become durable in the same order: entries, then receipts, then the head.
            Task<string> receipts = Task.Run(() => SignReceipts(first, leafHashes), CancellationToken.None);
            try
            {
                await AppendTextAsync(EntriesFile, lines.ToString(), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                await ((Task)receipts).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            await AppendTextAsync(ReceiptsFile, await receipts.ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            await AppendTextAsync(HeadsFile, head.ToJson() + "\n", cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _head, head);
            return head;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public IReadOnlyList<ReadOnlyMemory<byte>> ReadEntries(long from, long to)
    {
        lock (_tree)
        {
            CheckRange(from, to);
            return [.. _leaves.Skip((int)from).Take((int)(to - from)).Select(l => (ReadOnlyMemory<byte>)l)];
        }
    }

    /// <inheritdoc />
    public IReadOnlyList<byte[]> InclusionProof(long index, long size)
    {
        lock (_tree)
        {
            CheckRange(index, size);
            return _tree.InclusionProof((int)index, (int)size);
        }
    }

    /// <inheritdoc />
    public IReadOnlyList<byte[]> ConsistencyProof(long first, long second)
    {
        lock (_tree)
        {
            CheckRange(first, second);
            return _tree.ConsistencyProof((int)first, (int)second);
        }
    }

    /// <inheritdoc />
    public async ValueTask RecordCoSignaturesAsync(SignedTreeHead head, IReadOnlyList<CoSignature> coSignatures, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(head);
        ArgumentNullException.ThrowIfNull(coSignatures);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await AppendTextAsync(CoSignaturesFile, CoSignatureLine.Format(head, coSignatures) + "\n", cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private string SignReceipts(long first, ReadOnlyMemory<byte>[] leafHashes)
    {
        var receipts = new StringBuilder(leafHashes.Length * 90);
        for (int i = 0; i < leafHashes.Length; i++)
        {
            byte[] receipt = _key.SignData(SignedTreeHead.ReceiptStatement(first + i, leafHashes[i].Span), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
            receipts.Append(Convert.ToBase64String(receipt)).Append('\n');
        }

        return receipts.ToString();
    }

    private void CheckRange(long from, long to)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(from);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(to, _tree.Size);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(from, to);
    }

    private void Load()
    {
        string entries = Path.Combine(_directory, EntriesFile);
        if (File.Exists(entries))
        {
            foreach (string line in File.ReadLines(entries))
            {
                if (line.Length > 0)
                {
                    byte[] leaf = Encoding.UTF8.GetBytes(line);
                    _tree.Append(leaf);
                    _leaves.Add(leaf);
                }
            }
        }

        string heads = Path.Combine(_directory, HeadsFile);
        string? last = File.Exists(heads) ? File.ReadLines(heads).LastOrDefault(l => l.Length > 0) : null;
        if (last is null)
        {
            if (_tree.Size > 0)
            {
                throw new InvalidDataException($"The transparency log in '{_directory}' has {_tree.Size} entries but no signed tree head; run `fededge ledger verify --log {_directory}`.");
            }

            return;
        }

        SignedTreeHead head = SignedTreeHead.Parse(last);
        if (head.Size > _tree.Size || !head.RootHash.Span.SequenceEqual(_tree.RootHash((int)head.Size)) || !head.VerifySignature(_key))
        {
            throw new InvalidDataException($"The transparency log in '{_directory}' does not match its last signed tree head (size {head.Size}); run `fededge ledger verify --log {_directory}`.");
        }

        _head = head;
    }

    private async ValueTask AppendTextAsync(string file, string text, CancellationToken ct)
    {
        if (text.Length == 0)
        {
            return;
        }

        var stream = new FileStream(Path.Combine(_directory, file), FileMode.Append, FileAccess.Write, FileShare.Read);
        await using (stream.ConfigureAwait(false))
        {
            await stream.WriteAsync(Encoding.UTF8.GetBytes(text), ct).ConfigureAwait(false);
            stream.Flush(flushToDisk: true);
        }
    }
}
