using System.Security.Cryptography;
using FedEdge.Transport.Wire.Proto;
using Google.Protobuf;

namespace FedEdge.Transport.Wire;

/// <summary>Limits for <see cref="FrameReassembler"/>.</summary>
public sealed class ReassemblyOptions
{
    /// <summary>How long a transfer may stay incomplete before it is reported as missing chunks.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The largest reassembled message accepted (guards memory against hostile headers).</summary>
    public long MaxMessageBytes { get; set; } = 1L << 30;

    /// <summary>The most incomplete transfers kept per source; the oldest is reported and dropped beyond it.</summary>
    public int MaxPendingTransfersPerSource { get; set; } = 8;

    /// <summary>The most chunks one transfer may declare; a header beyond it is a <see cref="ReassemblyLimitException"/>.</summary>
    public int MaxChunkCount { get; set; } = 1 << 16;

    /// <summary>
    /// The most bytes of incomplete transfers held for one source (a device streaming endless chunks); the transfer
    /// that would pass it is dropped with a <see cref="ReassemblyLimitException"/>, so memory stays bounded per source.
    /// </summary>
    public long MaxPendingBytesPerSource { get; set; } = 256L << 20;

    /// <summary>Throws when a value is out of range.</summary>
    public void Validate()
    {
        if (Timeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(Timeout), Timeout, "The reassembly timeout must be positive.");
        }

        if (MaxMessageBytes < 1024 || MaxMessageBytes > Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxMessageBytes), MaxMessageBytes, $"MaxMessageBytes must be between 1024 and {Array.MaxLength}.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPendingTransfersPerSource, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxChunkCount, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPendingBytesPerSource, 1024);
    }
}

/// <summary>
/// Reassembles chunked frames per source. A corrupted, inconsistent or oversized chunk raises a
/// <see cref="ChunkIntegrityException"/> at once; a transfer that stays incomplete beyond the timeout is
/// reported by <see cref="CollectExpired"/> with the indices that never arrived, as is a transfer dropped because its
/// source had too many in flight. A frame or chunk header beyond the configured limits, or a source whose incomplete
/// transfers would hold more than <see cref="ReassemblyOptions.MaxPendingBytesPerSource"/>, raises a
/// <see cref="ReassemblyLimitException"/>. Duplicate chunks (at-least-once delivery) are ignored. A chunk without its
/// SHA-256 digests is refused with a <see cref="MissingChunkDigestException"/> unless the transport allows it for a
/// receiver that verifies the message's signature (internal); the public API always requires the digests. Thread-safe.
/// </summary>
public sealed class FrameReassembler
{
    private const int RecentlyCompletedCapacity = 4096;
    private const int MaxPinnedOverhead = 4096;
    private readonly TimeProvider _time;
    private readonly ReassemblyOptions _options;
    private readonly Lock _gate = new();
    private readonly Dictionary<(string Source, string TransferId), Pending> _pending = [];
    private readonly HashSet<string> _completed = new(StringComparer.Ordinal);
    private readonly Queue<string> _completedOrder = new();
    private readonly Dictionary<string, long> _pendingBytes = new(StringComparer.Ordinal);
    private readonly List<(string Source, ChunkIntegrityException Error)> _evicted = [];
    private long _digestlessChunks;

    /// <summary>Creates a reassembler.</summary>
    public FrameReassembler(TimeProvider timeProvider, ReassemblyOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        _time = timeProvider;
        _options = options ?? new ReassemblyOptions();
        _options.Validate();
    }

    /// <summary>The number of incomplete transfers held.</summary>
    public int PendingCount
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>The bytes of incomplete transfers held for <paramref name="source"/>.</summary>
    public long PendingBytes(string source)
    {
        lock (_gate)
        {
            return _pendingBytes.GetValueOrDefault(source);
        }
    }

    /// <summary>
    /// Takes one frame from <paramref name="source"/>. Returns true with the envelope bytes when a message is
    /// complete (a whole-envelope frame, or the last missing chunk); false while a transfer is incomplete or
    /// for a duplicate chunk.
    /// </summary>
    /// <exception cref="WireFormatException">The frame is malformed.</exception>
    /// <exception cref="ChunkIntegrityException">A chunk is corrupted or inconsistent; its transfer is dropped.</exception>
    /// <exception cref="MissingChunkDigestException">A chunk carries no SHA-256 digests.</exception>
    public bool TryAccept(string source, ReadOnlyMemory<byte> frame, out ReadOnlyMemory<byte> envelope) =>
        TryAccept(source, frame, frameIsOwned: false, allowDigestless: false, out envelope, out _);

    /// <summary>Chunks accepted without digests so far (tests and benches check that signed traffic really travelled without them).</summary>
    internal long DigestlessChunks => Interlocked.Read(ref _digestlessChunks);

    /// <summary>
    /// As <see cref="TryAccept(string, ReadOnlyMemory{byte}, out ReadOnlyMemory{byte})"/>; with
    /// <paramref name="frameIsOwned"/> the caller hands the frame's memory over (it is never written again), so a chunk's
    /// data is kept as a slice of it until its transfer completes instead of being copied first. With
    /// <paramref name="allowDigestless"/> a transfer whose chunks carry no digests is reassembled (the caller must then
    /// verify a signature over the message before using it, see <see cref="SignedContent.RequireCovered"/>);
    /// <paramref name="digestless"/> tells which kind of transfer completed.
    /// </summary>
    internal bool TryAccept(string source, ReadOnlyMemory<byte> frame, bool frameIsOwned, bool allowDigestless, out ReadOnlyMemory<byte> envelope, out bool digestless)
    {
        digestless = false;
        ArgumentNullException.ThrowIfNull(source);
        (ReadOnlyMemory<byte> whole, ChunkView? chunk) = WireFraming.Read(frame);
        if (chunk is null)
        {
            if (whole.Length > _options.MaxMessageBytes)
            {
                throw new ReassemblyLimitException(nameof(ReassemblyOptions.MaxMessageBytes), $"A frame of {whole.Length} bytes is larger than the {_options.MaxMessageBytes} allowed.");
            }

            envelope = whole;
            return true;
        }

        // A caller's buffer may be reused once this returns, and a frame whose other fields are much larger than its
        // data must not stay pinned by a small slice (pending bytes count the data only): both keep a copy.
        bool keepSlice = frameIsOwned && frame.Length - chunk.Data.Length <= MaxPinnedOverhead;
        return AcceptChunk(source, keepSlice ? chunk : chunk with { Data = chunk.Data.ToArray() }, allowDigestless, out envelope, out digestless);
    }

    /// <summary>
    /// Takes one frame already parsed by a transport's own protobuf layer (gRPC), without serializing it again: a chunk
    /// goes straight to reassembly; a whole-envelope frame takes the byte path.
    /// </summary>
    internal bool TryAccept(string source, Frame frame, out ReadOnlyMemory<byte> envelope) =>
        TryAccept(source, frame, allowDigestless: false, out envelope, out _);

    /// <summary>As <see cref="TryAccept(string, Frame, out ReadOnlyMemory{byte})"/>, with digest-less transfers as the byte overload with <c>allowDigestless</c>.</summary>
    internal bool TryAccept(string source, Frame frame, bool allowDigestless, out ReadOnlyMemory<byte> envelope, out bool digestless)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(frame);
        digestless = false;
        return frame.KindCase == Frame.KindOneofCase.Chunk
            ? AcceptChunk(source, ChunkView.Of(frame.Chunk), allowDigestless, out envelope, out digestless)
            : TryAccept(source, frame.ToByteArray(), frameIsOwned: true, allowDigestless, out envelope, out digestless);
    }

    private bool AcceptChunk(string source, ChunkView chunk, bool allowDigestless, out ReadOnlyMemory<byte> envelope, out bool digestless)
    {
        envelope = default;
        string id = chunk.TransferId;
        if (string.IsNullOrEmpty(id) || id.Length > 128)
        {
            throw new ChunkIntegrityException("(none)", "the chunk has no valid transfer id.");
        }

        digestless = chunk.IsDigestless;
        if (digestless)
        {
            if (!allowDigestless)
            {
                Drop(source, id);
                throw new MissingChunkDigestException(id, $"chunk {chunk.Index} of {chunk.Count} carries no SHA-256 digests, and this receiver verifies no signature that would stand in for them (a plain federation, or an engine without federation credentials); the transfer is discarded.");
            }

            Interlocked.Increment(ref _digestlessChunks);
        }
        else if (!SHA256.HashData(chunk.Data.Span).AsSpan().SequenceEqual(chunk.ChunkSha256.Span))
        {
            Drop(source, id);
            throw new ChunkIntegrityException(id, $"chunk {chunk.Index} of {chunk.Count} fails its SHA-256 check (corrupted in transit); the transfer is discarded.");
        }

        if (chunk.Count > (uint)_options.MaxChunkCount)
        {
            Drop(source, id);
            throw new ReassemblyLimitException(nameof(ReassemblyOptions.MaxChunkCount), $"Chunked transfer '{id}' declares {chunk.Count} chunks, more than the {_options.MaxChunkCount} allowed.");
        }

        if (chunk.TotalLength > (ulong)_options.MaxMessageBytes)
        {
            Drop(source, id);
            throw new ReassemblyLimitException(nameof(ReassemblyOptions.MaxMessageBytes), $"Chunked transfer '{id}' declares {chunk.TotalLength} bytes, more than the {_options.MaxMessageBytes} allowed.");
        }

        if (chunk.Count < 2 || chunk.Index >= chunk.Count || chunk.Count > chunk.TotalLength
            || chunk.TotalSha256.Length != (digestless ? 0 : 32) || (ulong)chunk.Data.Length > chunk.TotalLength)
        {
            Drop(source, id);
            throw new ChunkIntegrityException(id, $"chunk {chunk.Index} has an inconsistent header (count {chunk.Count}, total {chunk.TotalLength} bytes, limit {_options.MaxMessageBytes}).");
        }

        lock (_gate)
        {
            if (_completed.Contains(id))
            {
                return false;
            }

            var key = (source, id);
            if (!_pending.TryGetValue(key, out Pending? pending))
            {
                EvictOldestIfFull(source);
                pending = new Pending(chunk.Count, chunk.TotalLength, chunk.TotalSha256.ToArray(), _time.GetTimestamp());
                _pending[key] = pending;
            }

            if (pending.Count != chunk.Count || pending.TotalLength != chunk.TotalLength || !pending.TotalSha256.AsSpan().SequenceEqual(chunk.TotalSha256.Span))
            {
                Remove(key);
                throw new ChunkIntegrityException(id, $"chunk {chunk.Index} disagrees with its siblings about the transfer's size or digest.");
            }

            if (pending.Parts[chunk.Index] is not null)
            {
                return false;
            }

            long held = _pendingBytes.GetValueOrDefault(source);
            if (held + chunk.Data.Length > _options.MaxPendingBytesPerSource)
            {
                Remove(key);
                throw new ReassemblyLimitException(nameof(ReassemblyOptions.MaxPendingBytesPerSource), $"Chunked transfer '{id}' from '{source}' is dropped: the source's incomplete transfers would hold more than {_options.MaxPendingBytesPerSource} bytes.");
            }

            // The data is a slice of a frame nobody writes again, or a parsed ByteString's own bytes: kept, not copied.
            pending.Parts[chunk.Index] = chunk.Data;
            pending.Received++;
            pending.ReceivedBytes += chunk.Data.Length;
            _pendingBytes[source] = held + chunk.Data.Length;
            if (pending.ReceivedBytes > (long)pending.TotalLength)
            {
                Remove(key);
                throw new ChunkIntegrityException(id, $"the chunks carry more than the declared {pending.TotalLength} bytes.");
            }

            if (pending.Received < pending.Count)
            {
                return false;
            }

            Remove(key);
            var buffer = new byte[pending.TotalLength];
            int at = 0;
            foreach (ReadOnlyMemory<byte>? part in pending.Parts)
            {
                part!.Value.Span.CopyTo(buffer.AsSpan(at));
                at += part.Value.Length;
            }

            // A digest-less transfer (all its chunks agreed on an empty digest) is checked by the signature over it instead.
            if (at != buffer.Length || (!digestless && !SHA256.HashData(buffer).AsSpan().SequenceEqual(pending.TotalSha256)))
            {
                throw new ChunkIntegrityException(id, "the reassembled message fails its SHA-256 check; the transfer is discarded.");
            }

            RememberCompleted(id);
            envelope = buffer;
            return true;
        }
    }

    /// <summary>Removes and reports every transfer that stayed incomplete longer than the timeout.</summary>
    public IReadOnlyList<(string Source, ChunkIntegrityException Error)> CollectExpired()
    {
        var expired = new List<(string, ChunkIntegrityException)>();
        lock (_gate)
        {
            expired.AddRange(_evicted);
            _evicted.Clear();
            foreach (var (key, pending) in _pending.ToArray())
            {
                if (_time.GetElapsedTime(pending.StartedAt) >= _options.Timeout)
                {
                    Remove(key);
                    expired.Add((key.Source, Incomplete(key.TransferId, pending, $"incomplete after {_options.Timeout.TotalSeconds:0.#} s")));
                }
            }
        }

        return expired;
    }

    private static ChunkIntegrityException Incomplete(string id, Pending pending, string why)
    {
        var missing = new List<int>();
        for (int i = 0; i < pending.Parts.Length; i++)
        {
            if (pending.Parts[i] is null)
            {
                missing.Add(i);
            }
        }

        return new ChunkIntegrityException(id, $"{why}: {missing.Count} of {pending.Count} chunks missing ({string.Join(", ", missing.Take(16))}{(missing.Count > 16 ? ", ..." : string.Empty)}); the message is discarded.", missing);
    }

    private void EvictOldestIfFull(string source)
    {
        var mine = _pending.Where(p => string.Equals(p.Key.Source, source, StringComparison.Ordinal)).ToList();
        if (mine.Count >= _options.MaxPendingTransfersPerSource)
        {
            var oldest = mine.MinBy(p => p.Value.StartedAt);
            Remove(oldest.Key);
            _evicted.Add((source, Incomplete(oldest.Key.TransferId, oldest.Value, $"dropped: more than {_options.MaxPendingTransfersPerSource} transfers in flight from '{source}'")));
        }
    }

    private void Drop(string source, string id)
    {
        lock (_gate)
        {
            Remove((source, id));
        }
    }

    /// <summary>Forgets a pending transfer and the bytes it held for its source. Call under the lock.</summary>
    private void Remove((string Source, string TransferId) key)
    {
        if (_pending.Remove(key, out Pending? pending))
        {
            long left = _pendingBytes.GetValueOrDefault(key.Source) - pending.ReceivedBytes;
            if (left <= 0)
            {
                _pendingBytes.Remove(key.Source);
            }
            else
            {
                _pendingBytes[key.Source] = left;
            }
        }
    }

    private void RememberCompleted(string id)
    {
        if (_completed.Add(id))
        {
            _completedOrder.Enqueue(id);
            if (_completedOrder.Count > RecentlyCompletedCapacity)
            {
                _completed.Remove(_completedOrder.Dequeue());
            }
        }
    }

    private sealed class Pending(uint count, ulong totalLength, byte[] totalSha256, long startedAt)
    {
        public uint Count { get; } = count;

        public ulong TotalLength { get; } = totalLength;

        public byte[] TotalSha256 { get; } = totalSha256;

        public long StartedAt { get; } = startedAt;

        public ReadOnlyMemory<byte>?[] Parts { get; } = new ReadOnlyMemory<byte>?[count];

        public int Received { get; set; }

        public long ReceivedBytes { get; set; }
    }
}
