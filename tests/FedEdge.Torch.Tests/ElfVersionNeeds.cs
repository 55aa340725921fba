using System.Buffers.Binary;
using System.Text;

namespace FedEdge.Torch.Tests;

/// <summary>An independent reader of an ELF64 file's version needs, used to check the build step's output.</summary>
internal static class ElfVersionNeeds
{
    public static (bool Found, bool Weak) Find(byte[] elf, string version)
    {
        ReadOnlySpan<byte> e = elf;
        long shoff = BinaryPrimitives.ReadInt64LittleEndian(e[0x28..]);
        int shentsize = BinaryPrimitives.ReadUInt16LittleEndian(e[0x3A..]);
        int shnum = BinaryPrimitives.ReadUInt16LittleEndian(e[0x3C..]);
        for (int s = 0; s < shnum; s++)
        {
            int sh = checked((int)(shoff + (s * shentsize)));
            if (BinaryPrimitives.ReadUInt32LittleEndian(e[(sh + 4)..]) != 0x6ffffffe)
            {
                continue;
            }

            int offset = checked((int)BinaryPrimitives.ReadInt64LittleEndian(e[(sh + 0x18)..]));
            int link = (int)BinaryPrimitives.ReadUInt32LittleEndian(e[(sh + 0x28)..]);
            int strOffset = checked((int)BinaryPrimitives.ReadInt64LittleEndian(e[(checked((int)shoff) + (link * shentsize) + 0x18)..]));
            int vn = offset;
            while (true)
            {
                int count = BinaryPrimitives.ReadUInt16LittleEndian(e[(vn + 2)..]);
                int aux = vn + (int)BinaryPrimitives.ReadUInt32LittleEndian(e[(vn + 8)..]);
                for (int a = 0; a < count; a++)
                {
                    ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(e[(aux + 4)..]);
                    int name = strOffset + (int)BinaryPrimitives.ReadUInt32LittleEndian(e[(aux + 8)..]);
                    int len = e[name..].IndexOf((byte)0);
                    if (Encoding.ASCII.GetString(e.Slice(name, len)) == version)
                    {
                        return (true, (flags & 0x2) != 0);
                    }

                    aux += (int)BinaryPrimitives.ReadUInt32LittleEndian(e[(aux + 12)..]);
                }

                uint next = BinaryPrimitives.ReadUInt32LittleEndian(e[(vn + 12)..]);
                if (next == 0)
                {
                    break;
                }

                vn += (int)next;
            }
        }

        return (false, false);
    }

    public static bool SystemLibStdCxxProvides(string version)
    {
        byte[] needle = Encoding.ASCII.GetBytes(version + "\0");
        foreach (string path in new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6" })
        {
            if (File.Exists(path) && File.ReadAllBytes(path).AsSpan().IndexOf(needle) >= 0)
            {
                return true;
            }
        }

        return false;
    }
}
