using System.Text.Json;
using FedEdge.Flower.Objects;
using FedEdge.Flower.Wire;
using FedEdge.Testing;

namespace FedEdge.Flower.Tests;

/// <summary>
/// The objects of one training reply as Flower's own Python code serialised them
/// (../shared/flower/golden-train-reply.json): the encoder must reproduce them byte for byte, the decoder read them.
/// </summary>
public sealed class GoldenFixtureTests
{
    private static readonly JsonElement Fixture = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.Shared, "flower", "golden-train-reply.json"))).RootElement;

    private static Dictionary<string, byte[]> FixtureObjects() =>
        Fixture.GetProperty("objects").EnumerateArray().ToDictionary(o => o.GetProperty("object_id").GetString()!, o => Convert.FromHexString(o.GetProperty("content_hex").GetString()!));

    private static IdTree FixtureTree(JsonElement node)
    {
        var tree = new IdTree { ObjectId = node.GetProperty("id").GetString()! };
        tree.Children.AddRange(node.GetProperty("children").EnumerateArray().Select(FixtureTree));
        return tree;
    }

    private static string IdOf(string type) => Fixture.GetProperty("objects").EnumerateArray().Single(o => o.GetProperty("type").GetString() == type).GetProperty("object_id").GetString()!;

    /// <summary>The reply the fixture describes, built from its stated values; <paramref name="numExamples"/> as given.</summary>
    private static FlowerMessage Reply(long numExamples)
    {
        var metadata = new Envelope
        {
            RunId = 42,
            SrcNodeId = 7,
            DstNodeId = 1,
            ReplyToMessageId = string.Concat(Enumerable.Repeat("ab", 32)),
            GroupId = "1",
            Ttl = 3600,
            MessageType = "train",
            CreatedAt = 1767225600.0,
        };
        var array = new FlowerArray("float32", [1, 3], FlowerArray.NumpyStype, Npy.Write([1f, 2f, 3f], [1, 3]));
        var content = new FlowerRecordDict(
        [
            new("arrays", new FlowerArrayRecord([new("0", array)])),
            new("metrics", new FlowerMetricRecord([new("num-examples", FlowerValues.Metric(numExamples)), new("train_loss", FlowerValues.Metric(0.25))])),
        ]);
        return new FlowerMessage(metadata, content, null);
    }

    [Fact]
    public void Npy_FloatArray_MatchesNumpyBytes()
    {
        byte[] expected = Convert.FromHexString(Fixture.GetProperty("npy_bytes_hex").GetString()!);
        Assert.Equal(expected, Npy.Write([1f, 2f, 3f], [1, 3]));
        NpyArray read = Npy.Read(expected);
        Assert.Equal(NpyDtype.Float32, read.Dtype);
        Assert.Equal([1, 3], read.Shape);
        Assert.Equal([1.0, 2.0, 3.0], read.Values);
    }

    [Fact]
    public void Deflate_ArraysFromStatedValues_ReproduceChunkArrayAndArrayRecordExactly()
    {
        DeflatedMessage deflated = ObjectTreeWriter.Deflate(Reply(20));
        Dictionary<string, byte[]> golden = FixtureObjects();
        foreach (string type in new[] { "ArrayChunk", "Array", "ArrayRecord" })
        {
            string id = IdOf(type);
            Assert.True(deflated.Objects.ContainsKey(id), $"{type} id {id} not produced");
            Assert.Equal(golden[id], deflated.Objects[id]);
        }
    }

    [Fact]
    public void Inflate_GoldenTree_ReadsEveryValue()
    {
        IdTree tree = FixtureTree(Fixture.GetProperty("tree"));
        FlowerMessage message = ObjectTreeReader.Inflate(tree, FixtureObjects());

        Assert.Equal(Fixture.GetProperty("message_id").GetString(), message.Metadata.MessageId);
        Assert.Equal(42ul, message.Metadata.RunId);
        Assert.Equal("train", message.Metadata.MessageType);
        Assert.Equal(3600, message.Metadata.Ttl);
        var arrays = (FlowerArrayRecord)message.Content!.Items.Single(i => i.Key == "arrays").Value;
        Assert.Equal("0", arrays.Items.Single().Key);
        Assert.Equal([1.0, 2.0, 3.0], Npy.Read(arrays.Items[0].Value.Data).Values);
        var metrics = (FlowerMetricRecord)message.Content.Items.Single(i => i.Key == "metrics").Value;
        Assert.Equal(0.25, metrics.Number("train_loss"));

        // Flower's schema declares the integer metric sint64 (zig-zag): the fixture's byte 0x14 decodes to 10, not the
        // README's 20 (Flower itself writes 20 as 0x28). See Deflate_NumExamplesTwenty_DiffersFromFixtureOnlyInTheZigZagByte.
        Assert.Equal(10, metrics.Number("num-examples"));
    }

    [Fact]
    public void Deflate_ValuesDecodedFromFixture_ReproduceEveryObjectAndTheMessageId()
    {
        IdTree tree = FixtureTree(Fixture.GetProperty("tree"));
        Dictionary<string, byte[]> golden = FixtureObjects();
        FlowerMessage decoded = ObjectTreeReader.Inflate(tree, golden);

        DeflatedMessage again = ObjectTreeWriter.Deflate(decoded);

        Assert.Equal(Fixture.GetProperty("message_id").GetString(), again.MessageId);
        Assert.Equal(tree.ToString(), again.Tree.ToString());
        Assert.Equal(golden.Keys.Order(StringComparer.Ordinal), again.Objects.Keys.Order(StringComparer.Ordinal));
        foreach ((string id, byte[] bytes) in golden)
        {
            Assert.Equal(bytes, again.Objects[id]);
        }

        // Post-order, children first, as the fixture lists them.
        Assert.Equal(Fixture.GetProperty("objects").EnumerateArray().Select(o => o.GetProperty("object_id").GetString()!), again.PostOrder);
    }

    [Fact]
    public void Deflate_StatedValuesWithTenExamples_ReproduceTheWholeFixture()
    {
        DeflatedMessage deflated = ObjectTreeWriter.Deflate(Reply(10));
        Assert.Equal(Fixture.GetProperty("message_id").GetString(), deflated.MessageId);
        foreach ((string id, byte[] bytes) in FixtureObjects())
        {
            Assert.Equal(bytes, deflated.Objects[id]);
        }
    }

    [Fact]
    public void Deflate_NumExamplesTwenty_DiffersFromFixtureOnlyInTheZigZagByte()
    {
        byte[] golden = FixtureObjects()[IdOf("MetricRecord")];
        DeflatedMessage deflated = ObjectTreeWriter.Deflate(Reply(20));
        byte[] ours = deflated.Objects.Values.Single(b => ObjectCodec.Parse(b).ClassName == ObjectCodec.MetricRecord);

        Assert.Equal(golden.Length, ours.Length);
        int[] differing = Enumerable.Range(0, golden.Length).Where(i => golden[i] != ours[i]).ToArray();
        int at = Assert.Single(differing);
        Assert.Equal(0x14, golden[at]);
        Assert.Equal(0x28, ours[at]); // sint64 zig-zag of 20, as protobuf (and so Flower) encodes it
    }
}
