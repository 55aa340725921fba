using System.Text.Json;
using FedEdge.Flower.Wire;
using Google.Protobuf;

namespace FedEdge.Flower.Objects;

/// <summary>
/// Inflates a Flower message from its id tree and the objects' bytes, trusting nothing: every object must
/// re-hash to its id, have the class its place in the tree requires (Message → RecordDict → ArrayRecord /
/// MetricRecord / ConfigRecord → Array → ArrayChunk), name exactly the children the tree gives, and have a
/// well-formed body.
/// </summary>
internal static class ObjectTreeReader
{
    /// <summary>Every id in <paramref name="tree"/>, children before parents, each once.</summary>
    public static IReadOnlyList<string> PostOrderIds(IdTree tree)
    {
        ArgumentNullException.ThrowIfNull(tree);
        var ids = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        Visit(tree, 0);
        return ids;

        void Visit(IdTree node, int depth)
        {
            if (depth > 4)
            {
                throw new FlowerProtocolException("The object tree is deeper than Flower's Message → RecordDict → record → Array → ArrayChunk.");
            }

            if (!ObjectCodec.IsValidId(node.ObjectId))
            {
                throw new FlowerProtocolException($"The object tree names an invalid object id '{Shorten(node.ObjectId)}'.");
            }

            foreach (IdTree child in node.Children)
            {
                Visit(child, depth + 1);
            }

            if (seen.Add(node.ObjectId))
            {
                ids.Add(node.ObjectId);
            }
        }
    }

    /// <summary>Inflates the message whose tree is <paramref name="tree"/> from <paramref name="objects"/> (bytes by id).</summary>
    /// <exception cref="FlowerProtocolException">An object is missing, tampered with or malformed.</exception>
    public static FlowerMessage Inflate(IdTree tree, IReadOnlyDictionary<string, byte[]> objects)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentNullException.ThrowIfNull(objects);
        _ = PostOrderIds(tree);
        ParsedObject root = Load(tree, objects, ObjectCodec.Message);
        WireMessage wire;
        try
        {
            wire = WireMessage.Parser.ParseFrom(root.Body.Span);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new FlowerProtocolException("The Message object's body is not a Flower message.", ex);
        }

        if (wire.Content is not null)
        {
            throw new FlowerProtocolException("The Message object's body carries content inline; Flower sends it as child objects.");
        }

        Envelope metadata = wire.Metadata ?? new Envelope();
        metadata.MessageId = tree.ObjectId;
        FlowerRecordDict? content = null;
        if (tree.Children.Count == 1)
        {
            content = ReadRecordDict(tree.Children[0], objects);
        }
        else if (tree.Children.Count > 1)
        {
            throw new FlowerProtocolException($"A Message object has at most one child (its RecordDict), not {tree.Children.Count}.");
        }

        if (content is null && wire.Error is null)
        {
            throw new FlowerProtocolException("The message carries neither content nor an error.");
        }

        return new FlowerMessage(metadata, content, wire.Error);
    }

    private static FlowerRecordDict ReadRecordDict(IdTree tree, IReadOnlyDictionary<string, byte[]> objects)
    {
        ParsedObject parsed = Load(tree, objects, ObjectCodec.RecordDict);
        var items = new List<KeyValuePair<string, FlowerRecord>>();
        foreach ((string key, string id) in ReadRefs(parsed, tree))
        {
            IdTree child = tree.Children.First(c => c.ObjectId == id);
            string className = ObjectCodec.Parse(Fetch(child.ObjectId, objects)).ClassName;
            FlowerRecord record = className switch
            {
                ObjectCodec.ArrayRecord => ReadArrayRecord(child, objects),
                ObjectCodec.MetricRecord => new FlowerMetricRecord(ParseLeaf(child, objects, ObjectCodec.MetricRecord, MetricRecordBody.Parser).Items.Select(e => new KeyValuePair<string, MetricValue>(e.Key, e.Value ?? new MetricValue())).ToList()),
                ObjectCodec.ConfigRecord => new FlowerConfigRecord(ParseLeaf(child, objects, ObjectCodec.ConfigRecord, ConfigRecordBody.Parser).Items.Select(e => new KeyValuePair<string, ConfigValue>(e.Key, e.Value ?? new ConfigValue())).ToList()),
                _ => throw new FlowerProtocolException($"A RecordDict may hold ArrayRecord, MetricRecord or ConfigRecord objects, not '{Shorten(className)}'."),
            };
            items.Add(new(key, record));
        }

        return new FlowerRecordDict(items);
    }

    private static FlowerArrayRecord ReadArrayRecord(IdTree tree, IReadOnlyDictionary<string, byte[]> objects)
    {
        ParsedObject parsed = Load(tree, objects, ObjectCodec.ArrayRecord);
        var items = new List<KeyValuePair<string, FlowerArray>>();
        foreach ((string key, string id) in ReadRefs(parsed, tree))
        {
            items.Add(new(key, ReadArray(tree.Children.First(c => c.ObjectId == id), objects)));
        }

        return new FlowerArrayRecord(items);
    }

    private static FlowerArray ReadArray(IdTree tree, IReadOnlyDictionary<string, byte[]> objects)
    {
        ParsedObject parsed = Load(tree, objects, ObjectCodec.Array);
        ArrayHeader? header;
        try
        {
            header = JsonSerializer.Deserialize(parsed.Body.Span, FlowerJsonContext.Default.ArrayHeader);
        }
        catch (JsonException ex)
        {
            throw new FlowerProtocolException("An Array object's body is not the expected JSON.", ex);
        }

        if (header is null || header.Dtype is null || header.Shape is null || header.Stype is null || header.ArraychunkIds is null)
        {
            throw new FlowerProtocolException("An Array object's body lacks dtype, shape, stype or arraychunk_ids.");
        }

        var chunks = new List<ReadOnlyMemory<byte>>();
        long total = 0;
        foreach (int index in header.ArraychunkIds)
        {
            if (index < 0 || index >= parsed.ChildIds.Count)
            {
                throw new FlowerProtocolException($"An Array object refers to chunk {index} but has {parsed.ChildIds.Count}.");
            }

            IdTree chunkTree = tree.Children.First(c => c.ObjectId == parsed.ChildIds[index]);
            ParsedObject chunk = Load(chunkTree, objects, ObjectCodec.ArrayChunk);
            if (chunkTree.Children.Count != 0)
            {
                throw new FlowerProtocolException("An ArrayChunk object has no children.");
            }

            chunks.Add(chunk.Body);
            total += chunk.Body.Length;
        }

        if (total > int.MaxValue / 2)
        {
            throw new FlowerProtocolException($"An array of {total} bytes is too large.");
        }

        byte[] data = new byte[total];
        int offset = 0;
        foreach (ReadOnlyMemory<byte> chunk in chunks)
        {
            chunk.Span.CopyTo(data.AsSpan(offset));
            offset += chunk.Length;
        }

        return new FlowerArray(header.Dtype, header.Shape, header.Stype, data);
    }

    private static T ParseLeaf<T>(IdTree tree, IReadOnlyDictionary<string, byte[]> objects, string className, MessageParser<T> parser)
        where T : IMessage<T>
    {
        ParsedObject parsed = Load(tree, objects, className);
        if (tree.Children.Count != 0)
        {
            throw new FlowerProtocolException($"A {className} object has no children.");
        }

        try
        {
            return parser.ParseFrom(parsed.Body.Span);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new FlowerProtocolException($"A {className} object's body is malformed.", ex);
        }
    }

    private static List<KeyValuePair<string, string>> ReadRefs(ParsedObject parsed, IdTree tree)
    {
        Dictionary<string, string>? refs;
        try
        {
            refs = JsonSerializer.Deserialize(parsed.Body.Span, FlowerJsonContext.Default.DictionaryStringString);
        }
        catch (JsonException ex)
        {
            throw new FlowerProtocolException($"A {parsed.ClassName} object's body is not a JSON map of names to object ids.", ex);
        }

        if (refs is null)
        {
            throw new FlowerProtocolException($"A {parsed.ClassName} object's body is empty.");
        }

        var referenced = new HashSet<string>(refs.Values, StringComparer.Ordinal);
        if (!referenced.SetEquals(parsed.ChildIds))
        {
            throw new FlowerProtocolException($"A {parsed.ClassName} object's body names other objects than its head.");
        }

        return [.. refs];
    }

    private static ParsedObject Load(IdTree tree, IReadOnlyDictionary<string, byte[]> objects, string expectedClass)
    {
        byte[] bytes = Fetch(tree.ObjectId, objects);
        ParsedObject parsed = ObjectCodec.Parse(bytes);
        if (!string.Equals(parsed.ClassName, expectedClass, StringComparison.Ordinal))
        {
            throw new FlowerProtocolException($"Object {tree.ObjectId[..12]}… is a '{Shorten(parsed.ClassName)}' where the tree needs a {expectedClass}.");
        }

        if (!parsed.ChildIds.SequenceEqual(tree.Children.Select(c => c.ObjectId), StringComparer.Ordinal))
        {
            throw new FlowerProtocolException($"The {expectedClass} object {tree.ObjectId[..12]}… names other children than the object tree.");
        }

        return parsed;
    }

    private static byte[] Fetch(string id, IReadOnlyDictionary<string, byte[]> objects)
    {
        if (!objects.TryGetValue(id, out byte[]? bytes))
        {
            throw new FlowerProtocolException($"Object {Shorten(id)} is missing.");
        }

        if (!string.Equals(ObjectCodec.Id(bytes), id, StringComparison.Ordinal))
        {
            throw new FlowerProtocolException($"Object {Shorten(id)} was tampered with: its bytes hash to another id.");
        }

        return bytes;
    }

    private static string Shorten(string s) => s.Length <= 80 ? s : s[..80] + "…";
}

/// <summary>The JSON body of an Array object.</summary>
internal sealed class ArrayHeader
{
    [System.Text.Json.Serialization.JsonPropertyName("dtype")]
    public string? Dtype { get; set; }

    [System.Text.Json.Serialization.JsonPropertyName("shape")]
    public int[]? Shape { get; set; }

    [System.Text.Json.Serialization.JsonPropertyName("stype")]
    public string? Stype { get; set; }

    [System.Text.Json.Serialization.JsonPropertyName("arraychunk_ids")]
    public int[]? ArraychunkIds { get; set; }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(ArrayHeader))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class FlowerJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
