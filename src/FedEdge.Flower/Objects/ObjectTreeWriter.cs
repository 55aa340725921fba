using System.Text;
using FedEdge.Flower.Wire;
using Google.Protobuf;

namespace FedEdge.Flower.Objects;

/// <summary>A message deflated into Flower objects: the root (Message) id, the id tree and every object's bytes, children first.</summary>
internal sealed record DeflatedMessage(string MessageId, IdTree Tree, IReadOnlyDictionary<string, byte[]> Objects, IReadOnlyList<string> PostOrder);

/// <summary>Deflates a <see cref="FlowerMessage"/> into Flower's object tree exactly as Flower's Python code does.</summary>
internal static class ObjectTreeWriter
{
    public static DeflatedMessage Deflate(FlowerMessage message, int maxChunkBytes = ObjectCodec.MaxChunkBytes)
    {
        ArgumentNullException.ThrowIfNull(message);
        var objects = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var order = new List<string>();
        IdTree? contentTree = message.Content is { } content ? WriteRecordDict(content, objects, order, maxChunkBytes) : null;

        Envelope metadata = message.Metadata.Clone();
        metadata.MessageId = string.Empty;
        var body = new WireMessage { Metadata = metadata };
        if (message.Error is { } error)
        {
            body.Error = error;
        }

        byte[] bytes = ObjectCodec.Write(ObjectCodec.Message, contentTree is null ? [] : [contentTree.ObjectId], body.ToByteArray());
        IdTree root = Add(bytes, objects, order);
        if (contentTree is not null)
        {
            root.Children.Add(contentTree);
        }

        return new DeflatedMessage(root.ObjectId, root, objects, order);
    }

    private static IdTree WriteRecordDict(FlowerRecordDict dict, Dictionary<string, byte[]> objects, List<string> order, int maxChunk)
    {
        var refs = new List<KeyValuePair<string, string>>();
        var children = new List<IdTree>();
        foreach ((string key, FlowerRecord record) in dict.Items)
        {
            IdTree tree = record switch
            {
                FlowerArrayRecord arrays => WriteArrayRecord(arrays, objects, order, maxChunk),
                FlowerMetricRecord metrics => Add(ObjectCodec.Write(ObjectCodec.MetricRecord, [], MetricBody(metrics)), objects, order),
                FlowerConfigRecord config => Add(ObjectCodec.Write(ObjectCodec.ConfigRecord, [], ConfigBody(config)), objects, order),
                _ => throw new ArgumentException($"Unknown record type {record.GetType().Name}.", nameof(dict)),
            };
            refs.Add(new(key, tree.ObjectId));
            AddUnique(children, tree);
        }

        return Parent(ObjectCodec.RecordDict, children, PythonJson.StringMap(refs), objects, order);
    }

    private static IdTree WriteArrayRecord(FlowerArrayRecord record, Dictionary<string, byte[]> objects, List<string> order, int maxChunk)
    {
        var refs = new List<KeyValuePair<string, string>>();
        var children = new List<IdTree>();
        foreach ((string key, FlowerArray array) in record.Items)
        {
            IdTree tree = WriteArray(array, objects, order, maxChunk);
            refs.Add(new(key, tree.ObjectId));
            AddUnique(children, tree);
        }

        return Parent(ObjectCodec.ArrayRecord, children, PythonJson.StringMap(refs), objects, order);
    }

    private static IdTree WriteArray(FlowerArray array, Dictionary<string, byte[]> objects, List<string> order, int maxChunk)
    {
        // Chunks in data order; the head names each distinct chunk once, the body maps every chunk to its index there.
        var unique = new List<IdTree>();
        var indices = new List<int>();
        for (int start = 0; start < array.Data.Length; start += maxChunk)
        {
            int length = Math.Min(maxChunk, array.Data.Length - start);
            IdTree chunk = Add(ObjectCodec.Write(ObjectCodec.ArrayChunk, [], array.Data.AsSpan(start, length)), objects, order);
            int index = unique.FindIndex(t => t.ObjectId == chunk.ObjectId);
            if (index < 0)
            {
                index = unique.Count;
                unique.Add(chunk);
            }

            indices.Add(index);
        }

        var sb = new StringBuilder("{\"dtype\": ");
        PythonJson.WriteString(sb, array.Dtype);
        sb.Append(", \"shape\": ");
        PythonJson.WriteIntList(sb, array.Shape);
        sb.Append(", \"stype\": ");
        PythonJson.WriteString(sb, array.Stype);
        sb.Append(", \"arraychunk_ids\": ");
        PythonJson.WriteIntList(sb, indices);
        sb.Append('}');
        return Parent(ObjectCodec.Array, unique, Encoding.ASCII.GetBytes(sb.ToString()), objects, order);
    }

    private static byte[] MetricBody(FlowerMetricRecord record)
    {
        var body = new MetricRecordBody();
        foreach ((string key, MetricValue value) in record.Items)
        {
            body.Items.Add(new MetricRecordBody.Types.Entry { Key = key, Value = value });
        }

        return body.ToByteArray();
    }

    private static byte[] ConfigBody(FlowerConfigRecord record)
    {
        var body = new ConfigRecordBody();
        foreach ((string key, ConfigValue value) in record.Items)
        {
            body.Items.Add(new ConfigRecordBody.Types.Entry { Key = key, Value = value });
        }

        return body.ToByteArray();
    }

    private static IdTree Parent(string className, List<IdTree> children, byte[] body, Dictionary<string, byte[]> objects, List<string> order)
    {
        IdTree tree = Add(ObjectCodec.Write(className, children.Select(c => c.ObjectId).ToList(), body), objects, order);
        tree.Children.AddRange(children);
        return tree;
    }

    private static void AddUnique(List<IdTree> children, IdTree tree)
    {
        if (!children.Exists(c => c.ObjectId == tree.ObjectId))
        {
            children.Add(tree);
        }
    }

    private static IdTree Add(byte[] bytes, Dictionary<string, byte[]> objects, List<string> order)
    {
        string id = ObjectCodec.Id(bytes);
        if (objects.TryAdd(id, bytes))
        {
            order.Add(id);
        }

        return new IdTree { ObjectId = id };
    }
}
