using System.Globalization;

namespace Engine;

/// <summary>
/// How much memory this process can still take, so that a size read from an untrusted file or a command line
/// is refused with both numbers before the allocation instead of ending in "Out of memory" and SIGABRT.
/// </summary>
public static class HostMemory
{
    /// <summary>
    /// Bytes this process can still allocate: the least of the memory the system has available, what the
    /// cgroup's limit leaves (v2 or v1) and what the address-space limit (<c>ulimit -v</c>) leaves. Where none
    /// can be read (not Linux), the runtime's view: the total it may use minus the working set.
    /// </summary>
    public static long AvailableBytes()
    {
        long available = long.MaxValue;
        if (OperatingSystem.IsLinux())
        {
            if (MemInfo("MemAvailable:") is { } system) available = Math.Min(available, system);
            if (CgroupRemaining() is { } cgroup) available = Math.Min(available, cgroup);
            if (AddressSpaceRemaining() is { } address) available = Math.Min(available, address);
        }
        if (available == long.MaxValue)
            available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes - Environment.WorkingSet;
        return Math.Max(available, 0);
    }

    /// <summary>
    /// Throws <see cref="InsufficientMemoryException"/> when <paramref name="bytes"/> exceed what is available.
    /// <paramref name="what"/> says what needs them; the message gives both numbers.
    /// </summary>
    public static void Require(double bytes, string what)
    {
        long available = AvailableBytes();
        if (!(bytes <= available))
            throw new InsufficientMemoryException($"{what} needs {Format(bytes)}, but only {Format(available)} of memory are available");
    }

    /// <summary><paramref name="bytes"/> in the largest unit that keeps the number at least 1 (B, KB, MB, GB, TB; powers of 1000).</summary>
    public static string Format(double bytes)
    {
        string[] units = ["B", "KB", "MB", "GB", "TB", "PB"];
        int u = 0;
        while (u < units.Length - 1 && bytes >= 1000)
        {
            bytes /= 1000;
            u++;
        }
        return string.Create(CultureInfo.InvariantCulture, $"{bytes:0.#} {units[u]}");
    }

    static long? MemInfo(string key)
    {
        foreach (var line in ReadLines("/proc/meminfo"))
            if (line.StartsWith(key, StringComparison.Ordinal) && ParseKilobytes(line[key.Length..]) is { } kb) return kb;
        return null;
    }

    static long? CgroupRemaining()
    {
        // v2: the process's own cgroup directory, from /proc/self/cgroup's "0::/path" line.
        string? v2 = ReadLines("/proc/self/cgroup").FirstOrDefault(l => l.StartsWith("0::", StringComparison.Ordinal))?[3..];
        if (v2 is not null)
        {
            string dir = Path.Combine("/sys/fs/cgroup", v2.TrimStart('/'));
            if (ReadNumber(Path.Combine(dir, "memory.max")) is { } max && ReadNumber(Path.Combine(dir, "memory.current")) is { } current)
                return max - current;
            if (ReadNumber("/sys/fs/cgroup/memory.max") is { } rootMax && ReadNumber("/sys/fs/cgroup/memory.current") is { } rootCurrent)
                return rootMax - rootCurrent;
        }
        const string v1 = "/sys/fs/cgroup/memory/";
        if (ReadNumber(v1 + "memory.limit_in_bytes") is { } limit && limit < long.MaxValue / 2
            && ReadNumber(v1 + "memory.usage_in_bytes") is { } usage)
            return limit - usage;
        return null;
    }

    static long? AddressSpaceRemaining()
    {
        var line = ReadLines("/proc/self/limits").FirstOrDefault(l => l.StartsWith("Max address space", StringComparison.Ordinal));
        var fields = line?["Max address space".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields is not { Length: > 0 } || !long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out long limit)) return null;
        foreach (var status in ReadLines("/proc/self/status"))
            if (status.StartsWith("VmSize:", StringComparison.Ordinal) && ParseKilobytes(status["VmSize:".Length..]) is { } size)
                return limit - size;
        return null;
    }

    static long? ParseKilobytes(string text)
    {
        var number = text.Trim().Split(' ')[0];
        return long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out long kb) ? kb * 1024 : null;
    }

    static long? ReadNumber(string path)
    {
        try
        {
            string text = File.ReadAllText(path).Trim();
            return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long v) ? v : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    static IEnumerable<string> ReadLines(string path)
    {
        try
        {
            return File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
