#include "common/proto/line_framer.h"

namespace titan::proto {

FrameResult nextLine(std::string_view buffered, const FramerLimits& limits, bool strip_cr) {
    const std::size_t max = limits.max_line_bytes;
    // The LF of an acceptable line sits at index <= max (index max + 1 when a CR is
    // stripped), so there is no need to look further than that.
    const std::size_t slack = strip_cr ? 2 : 1;
    std::size_t window = buffered.size();
    if (window > max && window - max > slack) window = max + slack;
    const std::size_t lf = buffered.substr(0, window).find('\n');
    if (lf != std::string_view::npos) {
        std::string_view text = buffered.substr(0, lf);
        if (strip_cr && !text.empty() && text.back() == '\r') text.remove_suffix(1);
        if (text.size() > max) return LineTooLong{max};
        return Line{text, lf + 1};
    }
    if (buffered.size() <= max) return NeedMore{};
    // max + 1 bytes without LF can still become a valid line when the last one is the CR
    // that strip_cr removes.
    if (strip_cr && buffered.size() == max + 1 && buffered[max] == '\r') return NeedMore{};
    return LineTooLong{max};
}

FrameResult nextLine(std::string_view buffered, const FramerLimits& limits) {
    return nextLine(buffered, limits, limits.strip_cr);
}

}  // namespace titan::proto
